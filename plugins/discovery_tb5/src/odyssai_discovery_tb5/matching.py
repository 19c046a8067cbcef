"""From what each node sees on its Thunderbolt ports to cables, problems and ``rdma_to``.

Pure. A port's neighbour is recognised as another node's port by its fe80 address (what IPv6
neighbour discovery reports), else by its MAC. A cable is confirmed when both ends see each
other; an end that sees a port which does not see it back is reported as one-sided (often a
stale neighbour entry from a cable that moved). When a port sees several nodes' ports, the one
that sees it back wins and the rest are taken as stale. Ports without a link are ignored, with
whatever their neighbour tables still hold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from odyssai.discovery import Cable, Port
from odyssai.wiring import rdma_to_from_cables  # noqa: F401  (core turns cables into rdma_to)

from .parsers import Neighbour

ONBOARD = "run `odyssai node-setup network` at its console"


@dataclass
class PortInfo:
    """A Thunderbolt port as the probe read it."""

    node: str
    iface: str
    mac: str | None = None
    fe80: str | None = None
    up: bool = False
    hardware_port: str = ""
    bridged: bool = False

    def to_port(self) -> Port:
        return Port(node=self.node, iface=self.iface, hardware_port=self.hardware_port,
                    fe80=self.fe80, up=self.up)


@dataclass
class NodeView:
    """One node's Thunderbolt ports and its neighbour table."""

    node: str
    ports: list[PortInfo] = field(default_factory=list)
    neighbours: list[Neighbour] = field(default_factory=list)


@dataclass
class Matching:
    cables: list[Cable] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


End = tuple[str, str]  # (node, iface)


def _name(end: End) -> str:
    return f"{end[0]} {end[1]}"


def match_cables(views: list[NodeView]) -> Matching:
    """Cables (each seen from one end, so a confirmed cable appears twice) and problems."""
    by_fe80: dict[str, End] = {}
    by_mac: dict[str, End] = {}
    ports: dict[End, PortInfo] = {}
    for v in views:
        for p in v.ports:
            end = (p.node, p.iface)
            ports[end] = p
            if p.fe80:
                by_fe80[p.fe80] = end
            if p.mac:
                by_mac[p.mac] = end

    seen: dict[End, set[End]] = defaultdict(set)
    unknown: dict[End, list[Neighbour]] = defaultdict(list)
    for v in views:
        own = {p.iface: p for p in v.ports}
        for n in v.neighbours:
            port = own.get(n.iface)
            if port is None or not port.up or n.own or n.mac == port.mac or n.addr == port.fe80:
                continue  # not a TB port, no link (entries are stale), or the node itself
            peer = by_fe80.get(n.addr) or (by_mac.get(n.mac) if n.mac else None)
            if peer is None:
                unknown[(v.node, n.iface)].append(n)
            elif peer[0] != v.node:
                seen[(v.node, n.iface)].add(peer)

    result = Matching()
    for end in sorted(ports):
        p = ports[end]
        if p.up and p.fe80 is None:
            bridged = ", and it is still a member of bridge0 (Thunderbolt Bridge)" if p.bridged else ""
            result.problems.append(
                f"{_name(end)}: not onboarded: the port has a link but no IPv6 link-local (fe80) "
                f"address{bridged}: {ONBOARD}")
            continue
        if not p.up:
            continue  # nothing plugged in
        peers = seen.get(end, set())
        mutual = sorted(q for q in peers if end in seen.get(q, set()))
        if len(mutual) == 1:
            q = mutual[0]
            result.cables.append(Cable(node=end[0], iface=end[1], peer=q[0], peer_iface=q[1]))
        elif len(mutual) > 1:
            result.problems.append(
                f"{_name(end)} reaches several nodes ({', '.join(map(_name, mutual))}): a Thunderbolt "
                "cable joins two ports; is there a hub or a bridge in between?")
        elif peers:
            for q in sorted(peers):
                result.cables.append(Cable(node=end[0], iface=end[1], peer=q[0], peer_iface=q[1]))
                result.problems.append(
                    f"one-sided cable: {_name(end)} sees {_name(q)}, but {_name(q)} does not see "
                    f"{_name(end)}: probe again; if it stays, check that cable and {q[0]}'s port")
        elif unknown.get(end):
            n = unknown[end][0]
            result.problems.append(
                f"{_name(end)} reaches an unknown machine ({n.addr}, {n.mac}): not a node of this "
                "cluster, or a node that could not be probed")
        else:
            result.problems.append(
                f"{_name(end)} has a link but no neighbour answered: is the other end onboarded and up?")
    return result
