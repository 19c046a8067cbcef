"""MLX's ring backend: TCP collectives over Ethernet. The safe default.

Each rank listens on ``<its ethernet ip>:<port_base + rank>``; every rank gets the same hostfile
(a JSON list of one address list per rank). A one-node cluster needs no hostfile.

The port base is the cluster's ``port_base`` or one derived from its name, moved when another
cluster of the same topology on a shared node already uses it (``odyssai.ports``; core hands
``check`` and ``rank_setup`` the topology's other clusters).
"""

from __future__ import annotations

import json
import re
from typing import Mapping

from odyssai.ports import port_base
from odyssai.transport import Failure, RankSetup, Transport, default_port_base
from odyssai.topology import Cluster


_ADDR = r"(?P<addr>\d{1,3}(?:\.\d{1,3}){3}):(?P<port>\d+)"


def ring_hostfile(cluster_name: str, cluster: Cluster, base: int | None = None) -> list[list[str]]:
    """One ``ip:port`` list per rank, in rank order: rank ``i`` listens on ``base + i``.

    ``base`` defaults to the cluster's ``port_base``, else the one derived from its name.
    """
    if base is None:
        base = cluster.port_base if cluster.port_base is not None else default_port_base(cluster_name)
    return [[f"{node.ethernet_ip}:{base + rank}"] for rank, node in enumerate(cluster.nodes)]


class RingTransport(Transport):
    name = "ring"
    mlx_backend = "ring"
    description = "TCP collectives over Ethernet (MLX ring backend)"

    def check(self, cluster_name: str, cluster: Cluster, others: Mapping[str, Cluster] | None = None) -> None:
        for node in cluster.nodes:
            node.ethernet_ip  # raises a TopologyError naming the node when it has no IPv4
        if len(cluster.nodes) > 1:
            port_base(cluster_name, cluster, others)  # a TopologyError names a clashing cluster

    def rank_setup(self, cluster_name: str, cluster: Cluster, rank: int,
                   others: Mapping[str, Cluster] | None = None) -> RankSetup:
        env = {"MLX_RANK": str(rank)}
        if len(cluster.nodes) == 1:
            return RankSetup(env=env)
        base = port_base(cluster_name, cluster, others)  # pure: the same for every rank of a load
        return RankSetup(env=env, files={"MLX_HOSTFILE": json.dumps(ring_hostfile(cluster_name, cluster, base))})

    def classify(self, text: str, *, rank: int | None = None, node: str | None = None) -> Failure | None:
        return classify_ring_error(text, rank=rank, node=node)


_SIGNATURES = [
    # (regex, kind, message, remedy)
    # MLX writes e.g. "[ring] Couldn't bind socket (error: 99)"; Python's socket errors say "[Errno 98]"
    (re.compile(r"(?i)address already in use|(bind|listen)\D*(errno|error:?) ?(98|48)\b"),
     "port_in_use", "its ring port is already in use on {node}",
     "another cluster or a leftover runner holds the port: unload it, or set port_base for this cluster"),
    (re.compile(r"(?i)connection refused|errno 111|errno 61|couldn't connect|could not connect|failed to connect"),
     "peer_refused", "a peer refused the ring connection{peer}",
     "check that every node can reach the others' Ethernet IPs and ports (firewall, wrong 'ip')"),
    (re.compile(r"(?i)connection to a peer was lost"),
     "peer_lost", "{node} lost its ring connection to a peer",
     "another rank died or the network dropped: see every rank's error (odyssai logs), then load again"),
    (re.compile(r"(?i)timed? ?out|errno 110|errno 60"),
     "peer_timeout", "connecting to a ring peer timed out{peer}",
     "check the Ethernet wiring and each node's 'ip' in topology.yaml"),
    (re.compile(r"(?i)cannot assign requested address|(bind\D*)?(errno|error:?) ?(99|49)\b"),
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
