"""MLX's ring backend: TCP collectives over Ethernet. The safe default.

Each rank listens on ``<its ethernet ip>:<port_base + rank>``; every rank gets the same hostfile
(a JSON list of one address list per rank). A one-node cluster needs no hostfile.
"""

from __future__ import annotations

import json
import re

from odyssai.transport import Failure, RankSetup, Transport, default_port_base
from odyssai.topology import Cluster

_ADDR = r"(?P<addr>\d{1,3}(?:\.\d{1,3}){3}):(?P<port>\d+)"


def ring_hostfile(cluster_name: str, cluster: Cluster) -> list[list[str]]:
    """One ``ip:port`` list per rank, in rank order; ports are unique per (cluster, rank)."""
    base = cluster.port_base or default_port_base(cluster_name)
    return [[f"{node.ethernet_ip}:{base + rank}"] for rank, node in enumerate(cluster.nodes)]


class RingTransport(Transport):
    name = "ring"
    mlx_backend = "ring"
    description = "TCP collectives over Ethernet (MLX ring backend)"

    def check(self, cluster_name: str, cluster: Cluster) -> None:
        for node in cluster.nodes:
            node.ethernet_ip  # raises a TopologyError naming the node when it has no IPv4

    def rank_setup(self, cluster_name: str, cluster: Cluster, rank: int) -> RankSetup:
        env = {"MLX_RANK": str(rank)}
        if len(cluster.nodes) == 1:
            return RankSetup(env=env)
        return RankSetup(env=env, files={"MLX_HOSTFILE": json.dumps(ring_hostfile(cluster_name, cluster))})

    def classify(self, text: str, *, rank: int | None = None, node: str | None = None) -> Failure | None:
        return classify_ring_error(text, rank=rank, node=node)


_SIGNATURES = [
    # (regex, kind, message, remedy)
    (re.compile(r"(?i)(bind|listen).*?(address already in use|errno 98|errno 48)|" + r"address already in use"),
     "port_in_use", "its ring port is already in use on {node}",
     "another cluster or a leftover runner holds the port: unload it, or set port_base for this cluster"),
    (re.compile(r"(?i)connection refused|errno 111|errno 61|couldn't connect|could not connect|failed to connect"),
     "peer_refused", "a peer refused the ring connection{peer}",
     "check that every node can reach the others' Ethernet IPs and ports (firewall, wrong 'ip')"),
    (re.compile(r"(?i)timed? ?out|errno 110|errno 60"),
     "peer_timeout", "connecting to a ring peer timed out{peer}",
     "check the Ethernet wiring and each node's 'ip' in topology.yaml"),
    (re.compile(r"(?i)(cannot assign requested address|errno 99|errno 49)"),
     "wrong_ip", "{node} has no interface with its configured ring IP",
     "fix the node's 'ip' in topology.yaml: it must be an address of that node"),
]


def classify_ring_error(text: str, *, rank: int | None = None, node: str | None = None) -> Failure | None:
    """Map a ring backend error text to a typed failure naming the rank, the node and the peer."""
    for rx, kind, message, remedy in _SIGNATURES:
        if rx.search(text):
            m = re.search(_ADDR, text)
            peer = f" ({m.group('addr')}:{m.group('port')})" if m else ""
            return Failure(kind=kind, message=message.format(node=node or f"rank {rank}", peer=peer),
                           remedy=remedy, transport="ring", rank=rank, node=node)
    return None
