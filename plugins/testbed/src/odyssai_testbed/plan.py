"""What a testbed is made of, computed without touching the machine.

Naming (every namespace and interface carries the testbed's short id, so two testbeds never
collide and leftovers are recognisable), the IPv4 address plan of the "Ethernet" bridge, and the
cable plan (which Thunderbolt port of which node is wired to which). Plain functions over plain
data: tested without root.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence, Union

from odyssai.names import check_name

from .errors import TestbedError

PREFIX = "otb"  # odyssai testbed: the start of every namespace and root-namespace interface
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LEN = 4
MAX_NODES = 5
MAX_CABLES = 64
IFNAMSIZ = 15  # Linux interface names are at most 15 characters
ETHERNET_PORT = "en0"  # the node's Ethernet (the bridge), as on a Mac Studio
PORT_RE = re.compile(r"^en([2-9]|[1-9][0-9])$")  # Thunderbolt ports: en2, en3, ...
SUBNET_POOL = ipaddress.IPv4Network("10.213.0.0/16")
ROOT_HOST = 254  # the root namespace (the orchestrator) is .254 on the bridge

_ID_RE = re.compile(rf"^{PREFIX}([a-z0-9]{{{ID_LEN}}})(?:-.+|br|e\d+p?|c\d+[ab])$")


# --- names -------------------------------------------------------------------------------

def new_id() -> str:
    """A random short id for a testbed, e.g. ``k3f9``."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LEN))


def check_id(tid: str) -> str:
    if not re.fullmatch(rf"[a-z0-9]{{{ID_LEN}}}", tid or ""):
        raise TestbedError(f"testbed id {tid!r} is not {ID_LEN} lowercase letters or digits")
    return tid


def namespace(tid: str, node: str) -> str:
    """The network namespace of ``node``: ``otb<id>-<node>``."""
    return f"{PREFIX}{tid}-{node}"


def bridge(tid: str) -> str:
    """The "Ethernet" bridge in the root namespace."""
    return _ifname(f"{PREFIX}{tid}br")


def ethernet_root(tid: str, index: int) -> str:
    """The root-namespace end of node ``index``'s Ethernet veth (enslaved to the bridge)."""
    return _ifname(f"{PREFIX}{tid}e{index}")


def ethernet_temp(tid: str, index: int) -> str:
    """The temporary root-namespace name of the node end, before it becomes ``en0``."""
    return _ifname(f"{PREFIX}{tid}e{index}p")


def cable_temp(tid: str, k: int, end: str) -> str:
    """The temporary root-namespace name of cable ``k``'s end ``a`` or ``b``."""
    return _ifname(f"{PREFIX}{tid}c{k}{end}")


def id_of(name: str) -> str | None:
    """The testbed id in a namespace or interface name made by a testbed, else None."""
    m = _ID_RE.match(name)
    return m.group(1) if m else None


def _ifname(name: str) -> str:
    if len(name) > IFNAMSIZ:  # pragma: no cover - guarded by ID_LEN and MAX_CABLES
        raise TestbedError(f"interface name {name!r} is longer than {IFNAMSIZ} characters")
    return name


def node_names(nodes: int | Sequence[str]) -> list[str]:
    """``3`` -> ``['node1', 'node2', 'node3']``; a list of names is checked and kept."""
    if isinstance(nodes, int):
        if not 1 <= nodes <= MAX_NODES:
            raise TestbedError(f"a testbed has 1 to {MAX_NODES} nodes, not {nodes}")
        return [f"node{i}" for i in range(1, nodes + 1)]
    names = list(nodes)
    if not 1 <= len(names) <= MAX_NODES:
        raise TestbedError(f"a testbed has 1 to {MAX_NODES} nodes, not {len(names)}")
    for n in names:
        try:
            check_name(n, "node name")
        except ValueError as e:
            raise TestbedError(str(e)) from None
        if len(n) > 32:
            raise TestbedError(f"node name {n!r} is longer than 32 characters")
    if len(set(names)) != len(names):
        raise TestbedError(f"node names repeat: {', '.join(names)}")
    return names


# --- addresses ---------------------------------------------------------------------------

def node_ip(subnet: ipaddress.IPv4Network | str, index: int) -> str:
    """The Ethernet IPv4 of node number ``index`` (1-based): ``10.213.k.<index>``."""
    return str(ipaddress.IPv4Network(subnet)[index])


def root_ip(subnet: ipaddress.IPv4Network | str) -> str:
    """The root namespace's address on the bridge: ``10.213.k.254``."""
    return str(ipaddress.IPv4Network(subnet)[ROOT_HOST])


def choose_subnet(used: Iterable[ipaddress.IPv4Network | str],
                  pool: ipaddress.IPv4Network = SUBNET_POOL) -> ipaddress.IPv4Network:
    """The first /24 of ``pool`` that overlaps none of ``used`` (other testbeds, host routes)."""
    taken = [ipaddress.IPv4Network(u, strict=False) for u in used]
    for candidate in pool.subnets(new_prefix=24):
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise TestbedError(f"no free /24 left in {pool} for another testbed",
                       hint="tear down testbeds you no longer need: odyssai testbed down --all")


# --- cables ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cable:
    """A Thunderbolt cable: ``port_a`` of ``node_a`` to ``port_b`` of ``node_b``.

    ``up_a`` / ``up_b`` say whether each end starts plugged in; ``False`` models a wiring
    mistake (a cable whose one end is down).
    """

    node_a: str
    port_a: str
    node_b: str
    port_b: str
    up_a: bool = True
    up_b: bool = True

    @property
    def ends(self) -> tuple[tuple[str, str], tuple[str, str]]:
        return (self.node_a, self.port_a), (self.node_b, self.port_b)

    def port_of(self, node: str) -> str:
        """The port of this cable on ``node`` (the first end if the cable loops to itself)."""
        if node == self.node_a:
            return self.port_a
        if node == self.node_b:
            return self.port_b
        raise TestbedError(f"cable {self} does not reach {node}")

    def peer_of(self, node: str, port: str) -> tuple[str, str]:
        """The (node, port) at the other end of the end ``(node, port)``."""
        if (node, port) == (self.node_a, self.port_a):
            return self.node_b, self.port_b
        if (node, port) == (self.node_b, self.port_b):
            return self.node_a, self.port_a
        raise TestbedError(f"{node}:{port} is not an end of cable {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.node_a}:{self.port_a}<->{self.node_b}:{self.port_b}"


CableSpec = Union[Cable, Sequence[str]]


def full_mesh(nodes: Sequence[str]) -> list[tuple[str, str]]:
    """Every pair of nodes once, in rank order: the default wiring."""
    return [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:]]


def plan_cables(nodes: Sequence[str], cables: Iterable[CableSpec] | None) -> list[Cable]:
    """Turn a wiring description into cables with ports.

    ``None`` is a full mesh. Each item is a ``Cable`` (ports given), a pair of node names (ports
    taken in order: en2, en3, ... on each node) or ``(node_a, port_a, node_b, port_b)``.
    Unknown nodes, bad or reused port names are refused; a cable from a node to itself and two
    cables between the same nodes are allowed (they are wiring mistakes worth testing).
    """
    specs = list(full_mesh(nodes) if cables is None else cables)
    if len(specs) > MAX_CABLES:
        raise TestbedError(f"a testbed has at most {MAX_CABLES} cables, not {len(specs)}")
    known = set(nodes)
    used: dict[str, set[str]] = {n: set() for n in nodes}
    explicit: list[tuple[str, str]] = []
    for spec in specs:
        if isinstance(spec, Cable):
            explicit += [(spec.node_a, spec.port_a), (spec.node_b, spec.port_b)]
        elif len(spec) == 4:
            explicit += [(spec[0], spec[1]), (spec[2], spec[3])]
    for node, port in explicit:
        if node in used:
            used[node].add(port)

    def next_port(node: str) -> str:
        k = 2
        while f"en{k}" in used[node]:
            k += 1
        used[node].add(f"en{k}")
        return f"en{k}"

    planned: list[Cable] = []
    for spec in specs:
        if isinstance(spec, Cable):
            cable = spec
        elif isinstance(spec, str) or len(spec) not in (2, 4):
            raise TestbedError(f"a cable is (node_a, node_b) or (node_a, port_a, node_b, port_b), not {spec!r}")
        else:
            for n in (spec[0], spec[-2] if len(spec) == 4 else spec[1]):
                if n not in known:
                    raise TestbedError(f"cable {tuple(spec)!r} names {n!r}, which is not a node",
                                       hint=f"nodes are: {', '.join(nodes)}")
            if len(spec) == 2:
                cable = Cable(spec[0], next_port(spec[0]), spec[1], next_port(spec[1]))
            else:
                cable = Cable(*spec)
        planned.append(cable)
    _check_ports(nodes, planned)
    return planned


def _check_ports(nodes: Sequence[str], cables: Sequence[Cable]) -> None:
    seen: dict[tuple[str, str], Cable] = {}
    for c in cables:
        for node, port in c.ends:
            if node not in nodes:
                raise TestbedError(f"cable {c} names {node!r}, which is not a node",
                                   hint=f"nodes are: {', '.join(nodes)}")
            if not PORT_RE.match(port):
                raise TestbedError(f"cable {c}: port {port!r} is not a Thunderbolt port name (en2 ... en99)")
            if (node, port) in seen:
                raise TestbedError(f"port {node}:{port} is used by two cables: {seen[(node, port)]} and {c}")
            seen[(node, port)] = c


def cable_from_dict(d: dict[str, Any]) -> Cable:
    return Cable(str(d["node_a"]), str(d["port_a"]), str(d["node_b"]), str(d["port_b"]),
                 bool(d.get("up_a", True)), bool(d.get("up_b", True)))


def ports_of(node: str, cables: Sequence[Cable]) -> list[str]:
    """The Thunderbolt ports of ``node`` that have a cable, in port order."""
    ports = {p for c in cables for n, p in c.ends if n == node}
    return sorted(ports, key=lambda p: int(p[2:]))


def rdma_to(cables: Sequence[Cable], plugged: dict[tuple[str, str], bool] | None = None,
            deaf: Iterable[tuple[str, str]] = ()) -> dict[str, dict[str, str]]:
    """The ``rdma_to`` matrix a correct discovery finds: ``node -> peer -> rdma_<port>``.

    Only cables with both ends plugged count (``plugged`` maps (node, port) to its state;
    default: each cable's starting state). Loops to the same node are left out. Of several
    cables between the same two nodes, the one whose sorted ends are smallest is used on both
    sides (what core's ``rdma_to_from_cables`` does). A cable with a ``deaf`` end (node, port)
    is one-sided: only its other end sees it, so only that direction is there (when no other
    cable joins the two nodes).
    """
    deaf = set(deaf)
    both: dict[frozenset[str], tuple[tuple[str, str], tuple[str, str]]] = {}
    one_way: list[tuple[tuple[str, str], tuple[str, str]]] = []
    for c in cables:
        a_up = plugged.get((c.node_a, c.port_a), c.up_a) if plugged else c.up_a
        b_up = plugged.get((c.node_b, c.port_b), c.up_b) if plugged else c.up_b
        if c.node_a == c.node_b or not (a_up and b_up):
            continue
        a, b = c.ends
        if a in deaf and b in deaf:
            continue
        if a in deaf or b in deaf:
            one_way.append((b, a) if a in deaf else (a, b))  # (the end that sees, the deaf one)
            continue
        key, ends = frozenset((c.node_a, c.node_b)), tuple(sorted(c.ends))
        if key not in both or ends < both[key]:
            both[key] = ends  # type: ignore[assignment]
    matrix: dict[str, dict[str, str]] = {}
    for (na, pa), (nb, pb) in both.values():
        matrix.setdefault(na, {})[nb] = f"rdma_{pa}"
        matrix.setdefault(nb, {})[na] = f"rdma_{pb}"
    for (na, pa), (nb, _) in one_way:
        if frozenset((na, nb)) not in both:
            matrix.setdefault(na, {}).setdefault(nb, f"rdma_{pa}")
    return matrix


def free_port(node: str, cables: Sequence[Cable]) -> str:
    """The first Thunderbolt port of ``node`` (en2, en3, ...) that has no cable."""
    used = {p for c in cables for n, p in c.ends if n == node}
    k = 2
    while f"en{k}" in used:
        k += 1
    return f"en{k}"


def move_cable(nodes: Sequence[str], cables: Sequence[Cable], cable: Cable, *, end: str,
               port: str | None = None, node: str | None = None) -> Cable:
    """``cable`` with its end on node ``end`` moved to ``port`` of ``node`` (default: the same node).

    ``port`` defaults to the first free port of that node. The other end stays where it is, and
    so does every other cable: a port another cable uses, or the port the end is on now, is
    refused. On a cable looped to one node, ``end`` is its a end.
    """
    if end not in (cable.node_a, cable.node_b):
        raise TestbedError(f"cable {cable} has no end on {end!r}")
    node = node or end
    if node not in nodes:
        raise TestbedError(f"no node {node!r} to move the cable to", hint=f"nodes are: {', '.join(nodes)}")
    others = [c for c in cables if c.ends != cable.ends]
    port = port or free_port(node, [*others, cable])
    if not PORT_RE.match(port):
        raise TestbedError(f"port {port!r} is not a Thunderbolt port name (en2 ... en99)")
    moved = (Cable(cable.node_a, cable.port_a, node, port, cable.up_a, cable.up_b) if end == cable.node_b
             and end != cable.node_a else Cable(node, port, cable.node_b, cable.port_b, cable.up_a, cable.up_b))
    old_end = (end, cable.port_of(end))
    if (node, port) == old_end:
        raise TestbedError(f"the cable {cable} is already on {node}:{port}")
    for c in others:
        if (node, port) in c.ends:
            raise TestbedError(f"port {node}:{port} already has a cable: {c}",
                               hint=f"a free port of {node}: {free_port(node, [*others, cable])}")
    if moved.ends[0] == moved.ends[1]:
        raise TestbedError(f"cannot plug both ends of cable {cable} into {node}:{port}")
    return moved


def parse_cable_arg(text: str) -> tuple[str, ...]:
    """A cable as typed on the command line: ``node1,node2`` or ``node1:en3,node2:en2``."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise TestbedError(f"cable {text!r}: write it as NODE_A,NODE_B or NODE_A:PORT,NODE_B:PORT")
    ends = [p.split(":", 1) for p in parts]
    if all(len(e) == 1 for e in ends):
        return parts[0], parts[1]
    if all(len(e) == 2 for e in ends):
        return ends[0][0], ends[0][1], ends[1][0], ends[1][1]
    raise TestbedError(f"cable {text!r}: give a port on both ends or on neither")
