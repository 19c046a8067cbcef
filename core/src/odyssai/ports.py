"""The ports of the clusters in one topology: no two clusters sharing a node listen on the same port.

A cluster's rank ``i`` may listen on ``port_base + i`` on its node (the ring backend does; jaccl's
coordinator uses ``port_base`` on rank 0's node). Without ``port_base`` in ``topology.yaml`` the
base comes from a hash of the cluster name (``default_port_base``), and two names can hash to the
same range (``c10`` and ``c14`` both get 53824). ``assign_port_bases`` keeps the hashed base when
it is free and otherwise moves to the next free range, looking only at clusters that share a node;
the result is the same wherever it is computed (clusters in name order). A clash it cannot move
away from (two explicit ``port_base``) is a ``PortClash``, which names both clusters and a free
``port_base`` to set. Transports take their ports from ``port_base``. Pure: plain data in and out.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Mapping

from .errors import OdyssaiError, TopologyError
from .topology import Cluster, Node
from .transport import default_port_base

LOW, SLOTS, WIDTH = 32000, 2000, 16  # the ranges default_port_base draws from


@dataclass(frozen=True)
class PortClash:
    """Two clusters that share nodes and would listen on the same ports."""

    cluster: str
    other: str
    nodes: tuple[str, ...]  # the shared machine's node name (in each cluster, when they differ)
    port: int  # the port both would listen on there
    suggestion: int  # a port_base that is free for ``cluster``

    def message(self) -> str:
        return (f"clusters {self.cluster!r} and {self.other!r} would both listen on port {self.port} "
                f"on node {' / '.join(self.nodes)}")

    def hint(self) -> str:
        return (f"set a different 'port_base' for one of them in topology.yaml, "
                f"e.g. port_base: {self.suggestion} under cluster {self.cluster!r}")


def node_ids(node: Node) -> set[str]:
    """What identifies the machine behind a node: its SSH host and its ring IP."""
    ids = {node.host}
    try:
        ids.add(node.ethernet_ip)
    except OdyssaiError:
        pass
    return ids


def _same_port(a: Cluster, base_a: int, b: Cluster, base_b: int) -> tuple[int, list[str]] | None:
    """The port two clusters would both listen on on one machine, and that machine's node names."""
    if base_a + len(a.nodes) <= base_b or base_b + len(b.nodes) <= base_a:
        return None
    for i, x in enumerate(a.nodes):
        for j, y in enumerate(b.nodes):
            if base_a + i == base_b + j and node_ids(x) & node_ids(y):
                return base_a + i, [x.name] if x.name == y.name else [x.name, y.name]
    return None


def assign_port_bases(clusters: dict[str, Cluster], movable: set[str]) -> tuple[dict[str, int], list[PortClash]]:
    """Each cluster's port base, and the clashes left.

    ``movable`` names the clusters whose ports the caller chooses (its backend's clusters); those
    without an explicit ``port_base`` keep their hashed base unless a cluster sharing a node uses
    it, in which case they take the next free range (in name order, so the result is the same
    wherever it is computed). Every other cluster is fixed at its ``port_base`` or hashed base.
    """
    fixed = sorted(n for n, c in clusters.items() if n not in movable or c.port_base is not None)
    auto = sorted(n for n in clusters if n not in fixed)
    bases: dict[str, int] = {}
    clashes: list[PortClash] = []

    def conflict(name: str, base: int) -> tuple[str, int, list[str]] | None:
        for other, their_base in bases.items():
            hit = None if other == name else _same_port(clusters[name], base, clusters[other], their_base)
            if hit is not None:
                return other, *hit
        return None

    def free_base(name: str, start: int) -> int:
        slot = (max(start, LOW) - LOW) // WIDTH
        for k in range(SLOTS):
            base = LOW + ((slot + k) % SLOTS) * WIDTH
            if conflict(name, base) is None:
                return base
        return start  # every range taken: nothing better to offer

    for name in fixed:
        c = clusters[name]
        base = c.port_base if c.port_base is not None else default_port_base(name)
        hit = conflict(name, base)
        bases[name] = base
        if hit is not None and (name in movable or hit[0] in movable):
            other, port, nodes = hit
            mine, theirs = (name, other) if name in movable else (other, name)
            clashes.append(PortClash(mine, theirs, tuple(nodes), port, free_base(mine, bases[mine] + WIDTH)))
    for name in auto:
        bases[name] = free_base(name, default_port_base(name))
    return bases, clashes


def port_base(name: str, cluster: Cluster, others: Mapping[str, Cluster] | None) -> int:
    """The first port of cluster ``name`` among ``others`` (the rest of its topology).

    Without ``others`` (a caller that does not know the topology) it is the cluster's own
    ``port_base``, else the hashed one. Raises a ``TopologyError`` naming both clusters when
    ``name`` clashes with a cluster that cannot move (two explicit ``port_base``).
    """
    if others is None or len(cluster.nodes) < 2:
        return cluster.port_base if cluster.port_base is not None else default_port_base(name)
    everyone = {n: c for n, c in others.items() if n != name and len(c.nodes) > 1} | {name: cluster}
    bases, clashes = assign_port_bases(everyone, movable=set(everyone))
    for clash in clashes:
        if name in (clash.cluster, clash.other):
            raise TopologyError(clash.message(), hint=clash.hint(), param="port_base")
    return bases[name]
