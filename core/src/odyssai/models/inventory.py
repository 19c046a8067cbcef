"""What models each node of a cluster has: name, size on disk, architecture.

A small Python program runs on each node (with the node's own ``python``, over SSH) and lists
the model directories under its models_dir — a directory with a ``config.json``, one level
(``name``) or two (``org/name``) deep. The listing is plain JSON on stdout.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

LIST_PROGRAM = r"""
import json, os, sys
root = os.path.expanduser(sys.argv[1])
out = []
def describe(path, name):
    try:
        cfg = json.load(open(os.path.join(path, "config.json")))
    except Exception as e:
        return {"name": name, "error": "unreadable config.json: %s" % e}
    size = 0
    for d, _, files in os.walk(path, followlinks=True):
        for f in files:
            try:
                size += os.path.getsize(os.path.join(d, f))
            except OSError:
                pass
    q = cfg.get("quantization") or {}
    return {"name": name, "size_bytes": size, "architecture": cfg.get("model_type", "?"),
            "layers": cfg.get("num_hidden_layers"), "bits": q.get("bits")}
if os.path.isdir(root):
    for a in sorted(os.listdir(root)):
        pa = os.path.join(root, a)
        if a.startswith(".") or not os.path.isdir(pa):
            continue
        if os.path.isfile(os.path.join(pa, "config.json")):
            out.append(describe(pa, a))
        else:
            for b in sorted(os.listdir(pa)):
                pb = os.path.join(pa, b)
                if not b.startswith(".") and os.path.isfile(os.path.join(pb, "config.json")):
                    out.append(describe(pb, a + "/" + b))
print(json.dumps({"models_dir": root, "exists": os.path.isdir(root), "models": out}))
"""


def parse_listing(stdout: str) -> dict[str, Any]:
    """The JSON the listing program printed (its last line)."""
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    if not lines:
        raise ValueError("the node printed nothing")
    return json.loads(lines[-1])


async def cluster_inventory(cluster: Any, timeout: float = 60.0) -> dict[str, dict[str, Any]]:
    """Every node's models (in rank order), or the error that kept us from listing them."""
    from ..ssh import run_on_node

    async def one(node: Any) -> tuple[str, dict[str, Any]]:
        try:
            res = await run_on_node(node, [node.python, "-c", LIST_PROGRAM, cluster.models_dir_of(node)],
                                    timeout=timeout)
            if res.exit_status != 0:
                return node.name, {"error": (res.stderr or res.stdout).strip().splitlines()[-1:] or
                                   [f"exit {res.exit_status}"]}
            return node.name, parse_listing(res.stdout)
        except Exception as e:  # one node's trouble must not hide the others' listings
            return node.name, {"error": [str(e)]}

    results = await asyncio.gather(*(one(n) for n in cluster.nodes))
    return dict(results)


def human_size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"
