"""The jaccl transport: what each rank needs to join an RDMA group over Thunderbolt 5.

Each rank gets what ``mlx.launch`` gives it for ``--backend jaccl`` (a full mesh of cables) or
``--backend jaccl-ring`` (a ring of cables, four nodes or more):

- ``MLX_RANK``: the rank, its position in ``cluster.nodes``;
- ``MLX_JACCL_COORDINATOR``: rank 0's Ethernet IPv4 and the cluster's port, where rank 0 runs
  the TCP side channel that the ranks use to exchange their queue pair numbers;
- ``MLX_JACCL_RING=1`` when the cables form a ring rather than a full mesh;
- the file ``MLX_IBV_DEVICES``: an N×N JSON matrix where row i, column j is the RDMA device rank
  i uses toward rank j, ``null`` on the diagonal (and, in a ring, toward non-neighbours).

The wiring itself comes from ``rdma_to`` in ``topology.yaml``, which ``odyssai topology build``
writes from a probe of the cables.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from odyssai.errors import ConfigError
from odyssai.topology import MeshReport, validate_mesh
from odyssai.ports import port_base
from odyssai.transport import Failure, RankSetup, Transport

from .cycles import BOOT_ID_COMMANDS, LoadCycles, parse_boot_id
from .failures import classify, root_cause

if TYPE_CHECKING:
    from odyssai.topology import Cluster

Wiring = Literal["mesh", "ring"]

#: an RDMA device as ``ibv_devices`` names it on macOS: ``rdma_`` + the Thunderbolt interface
DEVICE_RE = re.compile(r"^rdma_[A-Za-z0-9_.-]{1,15}$")

#: JACCL's mesh refuses more peers than this (``MAX_PEERS`` in mlx/distributed/jaccl)
MAX_RANKS = 8


def _build_hint(cluster_name: str) -> str:
    return f"run `odyssai topology build {cluster_name}` to probe the cables and write rdma_to"


def _first_problems(report: MeshReport) -> str:
    first = report.problems[0]
    more = len(report.problems) - 1
    return first + (f" (and {more} more)" if more else "")


def wiring_of(cluster_name: str, cluster: Cluster) -> Wiring:
    """``"mesh"`` or ``"ring"``: how the cables of ``rdma_to`` join the nodes, or a ConfigError.

    A full mesh (every node cabled to every other) wins; otherwise a ring in rank order, which
    only differs from a mesh from four nodes on. Device names must look like ``rdma_en2``.
    """
    names = [n.name for n in cluster.nodes]
    hint = _build_hint(cluster_name)
    if len(names) < 2:
        raise ConfigError(f"cluster {cluster_name!r}: jaccl needs at least 2 nodes, it has {len(names)}",
                          hint="use backend: ring for a cluster of one node")
    if len(names) > MAX_RANKS:
        raise ConfigError(f"cluster {cluster_name!r}: jaccl supports at most {MAX_RANKS} nodes, "
                          f"it has {len(names)}")
    if not cluster.rdma_to:
        raise ConfigError(f"cluster {cluster_name!r} uses backend jaccl but has no rdma_to wiring",
                          hint=hint)
    mesh = validate_mesh(names, cluster.rdma_to, "mesh")
    wiring: Wiring
    if mesh.ok:
        wiring, report = "mesh", mesh
    else:
        ring = validate_mesh(names, cluster.rdma_to, "ring") if len(names) >= 4 else None
        if ring is not None and ring.ok:
            wiring, report = "ring", ring
        else:
            closest = ring if ring is not None and len(ring.problems) < len(mesh.problems) else mesh
            shape = "a full mesh or a ring in node order" if ring is not None else "a full mesh"
            raise ConfigError(f"cluster {cluster_name!r}: rdma_to is not {shape}: {_first_problems(closest)}",
                              hint=hint)
    for node, peer, device in report.edges:
        if not DEVICE_RE.match(device):
            raise ConfigError(
                f"cluster {cluster_name!r}: rdma_to {node} -> {peer} is {device!r}, "
                "not an RDMA device name like 'rdma_en2'", hint=hint)
    return wiring


def device_matrix(cluster: Cluster) -> list[list[str | None]]:
    """The ``MLX_IBV_DEVICES`` matrix: row i, column j = the device of rank i toward rank j.

    Pure; assumes ``rdma_to`` was checked (``wiring_of``). Pairs without a cable are ``null``.
    """
    names = [n.name for n in cluster.nodes]
    rdma_to = cluster.rdma_to or {}
    return [[None if a == b else (rdma_to.get(a) or {}).get(b) for b in names] for a in names]


def coordinator(cluster_name: str, cluster: Cluster, others: Any = None) -> str:
    """``ip:port`` of rank 0's side channel: its Ethernet IPv4 and the cluster's port base (clear
    of the ports of ``others``, the topology's other clusters, on shared nodes)."""
    return f"{cluster.nodes[0].ethernet_ip}:{port_base(cluster_name, cluster, others)}"


class JacclTransport(Transport):
    """MLX's ``jaccl`` backend: RDMA over Thunderbolt 5 (macOS 26.2+ only)."""

    name = "jaccl"
    mlx_backend = "jaccl"
    description = "RDMA over Thunderbolt 5 (MLX jaccl): needs a cabled mesh or ring and rdma_to"

    def check(self, cluster_name: str, cluster: Cluster, others: Any = None) -> None:
        wiring_of(cluster_name, cluster)
        coordinator(cluster_name, cluster, others)  # rank 0 must have an Ethernet IPv4; ports clear

    def rank_setup(self, cluster_name: str, cluster: Cluster, rank: int, others: Any = None) -> RankSetup:
        if not 0 <= rank < len(cluster.nodes):
            raise ValueError(f"rank {rank} is not in 0..{len(cluster.nodes) - 1}")
        wiring = wiring_of(cluster_name, cluster)
        env = {"MLX_RANK": str(rank), "MLX_JACCL_COORDINATOR": coordinator(cluster_name, cluster, others)}
        if wiring == "ring":
            env["MLX_JACCL_RING"] = "1"
        # json.dumps with its default separators: byte for byte what mlx.launch writes
        return RankSetup(env=env, files={"MLX_IBV_DEVICES": json.dumps(device_matrix(cluster))})

    def classify(self, text: str, *, rank: int | None = None, node: str | None = None) -> Failure | None:
        return classify(text, rank=rank, node=node)

    def root_cause(self, failures: list[Failure]) -> Failure | None:
        return root_cause(failures)

    async def prepare(self, cluster_name: str, cluster: Cluster, run: Any, state_dir: Path) -> list[str]:
        """Count this load on every node since its last boot; warn before queue pairs run out."""
        cycles = LoadCycles(state_dir)
        warnings = []
        for node in cluster.nodes:
            uname = await run(node, ["uname", "-s"])
            os_name = uname.stdout.strip() or "Linux"
            res = await run(node, BOOT_ID_COMMANDS.get(os_name, BOOT_ID_COMMANDS["Linux"]))
            try:
                boot_id = parse_boot_id(os_name, res.stdout)
            except ValueError as e:
                warnings.append(f"{node.name}: cannot count jaccl loads since boot ({e})")
                continue
            cycles.record_load(node.name, boot_id)
            w = cycles.warning(node.name, boot_id)
            if w:
                warnings.append(w)
        return warnings
