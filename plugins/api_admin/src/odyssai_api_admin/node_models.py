"""Which models the nodes of a cluster have: the model directories under each node's models_dir.

No runner is needed: one POSIX ``sh`` line per node over SSH (``odyssai.ssh.run_on_node``, all
nodes at once) prints every directory one or two levels under models_dir (``name`` or
``org/name``) that holds a ``config.json``. A model "the nodes have" is one every node lists.
"""

from __future__ import annotations

import asyncio
import shlex
from typing import Any

from odyssai.errors import OdyssaiError
from odyssai.names import check_model_name
from odyssai.ssh import run_on_node
from odyssai.topology import Cluster as ClusterSpec
from odyssai.topology import Node

NO_DIR = 3  # exit status of the listing when models_dir does not exist


def quote_dir(path: str) -> str:
    """``path`` quoted for sh, with a leading ``~`` still meaning the remote user's home."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:]) if path[2:] else '"$HOME"'
    return shlex.quote(path)


def list_command(models_dir: str) -> str:
    """The sh line that prints each model directory under ``models_dir``, one per line."""
    return (f"cd {quote_dir(models_dir)} 2>/dev/null || exit {NO_DIR}; "
            'for f in */config.json */*/config.json; do [ -f "$f" ] && printf \'%s\\n\' "${f%/config.json}"; '
            "done; exit 0")


def parse_listing(stdout: str) -> list[str]:
    """The valid model names of a listing, sorted, without duplicates."""
    names = set()
    for line in stdout.splitlines():
        try:
            names.add(check_model_name(line.strip()))
        except ValueError:
            continue
    return sorted(names)


def common_models(per_node: list[dict[str, Any]]) -> list[str]:
    """Models every node lists; none when any node could not be asked."""
    if not per_node or any(n.get("error") for n in per_node):
        return []
    common = set(per_node[0]["models"])
    for n in per_node[1:]:
        common &= set(n["models"])
    return sorted(common)


async def node_listing(node: Node, models_dir: str, timeout: float = 20.0) -> dict[str, Any]:
    """What one node has under ``models_dir``, or the error that kept us from knowing."""
    entry: dict[str, Any] = {"node": node.name, "models_dir": models_dir, "models": [], "error": None}
    try:
        result = await run_on_node(node, list_command(models_dir), timeout=timeout, connect_timeout=10.0)
    except OdyssaiError as e:
        entry["error"] = str(e)
        return entry
    if result.exit_status == NO_DIR:
        entry["error"] = f"models_dir {models_dir} does not exist on {node.name}"
    elif result.exit_status != 0:
        entry["error"] = f"listing {models_dir} on {node.name} failed ({result.exit_status}): " \
                         f"{(result.stderr or '').strip()[:200]}"
    else:
        entry["models"] = parse_listing(result.stdout)
    return entry


async def cluster_models(spec: ClusterSpec) -> dict[str, Any]:
    """Every node's models and the ones they all have."""
    per_node = list(await asyncio.gather(*(node_listing(n, spec.models_dir_of(n)) for n in spec.nodes)))
    return {"models": common_models(per_node), "nodes": per_node}
