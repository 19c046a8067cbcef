"""The wiring of a cluster: cables found by discovery → the ``rdma_to`` matrix, diffs, builds.

Discovery plugins only probe and report cables (``odyssai.discovery.Cable``); core turns them
into ``rdma_to`` (device names as MLX's JACCL expects: ``rdma_<iface>``), validates the mesh,
diffs it against what the topology file says, and writes it (backup, other clusters kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .discovery import Cable, Probe
from .errors import ConfigError, Conflict, OdyssaiError
from .topology import Cluster, MeshReport, load_topology, save_clusters, validate_mesh

End = tuple[str, str]  # (node, iface)


def rdma_to_from_cables(cables: list[Cable], node_names: list[str] | None = None) -> dict[str, dict[str, str]]:
    """The ``rdma_to`` matrix: node -> peer -> ``rdma_<iface>`` of the node's end of the cable.

    A cable seen from both ends gives both directions from the same physical cable. When two
    nodes are joined by several cables, the one with the smallest port names is used on both
    sides (jaccl takes one device per peer). A one-sided cable gives its one direction, so
    that ``validate_mesh`` reports it. ``node_names`` adds nodes that have no cable at all.
    """
    ends = {(c.node, c.iface, c.peer, c.peer_iface) for c in cables}
    confirmed: dict[frozenset[str], tuple[End, End]] = {}
    one_sided: list[tuple[End, End]] = []
    for a, x, b, y in sorted(ends):
        if (b, y, a, x) in ends:
            key = frozenset((a, b))
            cable = tuple(sorted([(a, x), (b, y)]))
            if key not in confirmed or cable < confirmed[key]:
                confirmed[key] = cable  # type: ignore[assignment]
        else:
            one_sided.append(((a, x), (b, y)))
    rdma_to: dict[str, dict[str, str]] = {n: {} for n in node_names or []}
    for (a, x), (b, y) in confirmed.values():
        rdma_to.setdefault(a, {})[b] = f"rdma_{x}"
        rdma_to.setdefault(b, {})[a] = f"rdma_{y}"
    for (a, x), (b, _y) in one_sided:
        if frozenset((a, b)) not in confirmed:
            rdma_to.setdefault(a, {}).setdefault(b, f"rdma_{x}")
    ordered = sorted(rdma_to.items(), key=lambda kv: _order(kv[0], node_names))
    return {n: dict(sorted(peers.items())) for n, peers in ordered}


def _order(name: str, node_names: list[str] | None) -> tuple[int, str]:
    if node_names and name in node_names:
        return (node_names.index(name), name)
    return (len(node_names or []), name)


Sides = tuple[str | None, str | None]


@dataclass(frozen=True)
class CableChange:
    """One cable's change. ``before`` and ``after`` are (a's device, b's device)."""

    change: Literal["added", "removed", "moved"]
    a: str
    b: str
    before: Sides
    after: Sides

    def to_dict(self) -> dict:
        return {"change": self.change, "a": self.a, "b": self.b,
                "before": list(self.before), "after": list(self.after)}


def _sides(rdma_to: dict[str, dict[str, str]] | None, a: str, b: str) -> Sides:
    rdma_to = rdma_to or {}
    return (rdma_to.get(a) or {}).get(b), (rdma_to.get(b) or {}).get(a)


def _pairs(rdma_to: dict[str, dict[str, str]] | None) -> set[tuple[str, str]]:
    out = set()
    for a, peers in (rdma_to or {}).items():
        for b in peers or {}:
            if a != b:
                out.add((min(a, b), max(a, b)))
    return out


def diff_rdma_to(before: dict[str, dict[str, str]] | None,
                 after: dict[str, dict[str, str]] | None) -> list[CableChange]:
    """Every cable whose ends differ between ``before`` and ``after``, sorted by node names."""
    changes = []
    for a, b in sorted(_pairs(before) | _pairs(after)):
        old, new = _sides(before, a, b), _sides(after, a, b)
        if old == new:
            continue
        if old == (None, None):
            kind = "added"
        elif new == (None, None):
            kind = "removed"
        else:
            kind = "moved"
        changes.append(CableChange(kind, a, b, old, new))  # type: ignore[arg-type]
    return changes


def _end(node: str, device: str | None) -> str:
    return f"{node} {device or '?'}"


def render_diff(changes: list[CableChange]) -> list[str]:
    """One line per change: ``+`` added, ``-`` removed, ``~`` moved (with each end that moved)."""
    lines = []
    for c in changes:
        if c.change == "added":
            lines.append(f"+ {_end(c.a, c.after[0])} <-> {_end(c.b, c.after[1])}")
        elif c.change == "removed":
            lines.append(f"- {_end(c.a, c.before[0])} <-> {_end(c.b, c.before[1])}")
        else:
            moved = [f"{node} {old or '?'} -> {new or '?'}"
                     for node, old, new in ((c.a, c.before[0], c.after[0]), (c.b, c.before[1], c.after[1]))
                     if old != new]
            lines.append(f"~ {c.a} <-> {c.b}: {'; '.join(moved)}")
    return lines


# --- building the topology from a probe ----------------------------------------------------

class WiringInvalid(OdyssaiError):
    """The probed wiring does not validate; nothing was written. ``result`` says why."""

    status = 422
    exit_code = 1

    def __init__(self, result: "BuildResult"):
        self.result = result
        super().__init__(f"the wiring of {result.cluster} does not validate: " + "; ".join(result.problems),
                         hint="fix the cables (or onboard the nodes) and build again; nothing was written")


@dataclass
class BuildResult:
    """What a build (or rebuild) found, and whether it was written."""

    cluster: str
    rdma_to: dict[str, dict[str, str]]
    expected_edges: int
    problems: list[str] = field(default_factory=list)
    changes: list[CableChange] = field(default_factory=list)
    written: bool = False
    backup: str | None = None
    #: the cluster's nodes and ``rdma_to`` in the file when it was probed: what the diff is against
    before: tuple[list[str], dict[str, dict[str, str]] | None] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def diff_lines(self) -> list[str]:
        return render_diff(self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "ok": self.ok, "rdma_to": self.rdma_to,
                "edges": sum(len(p) for p in self.rdma_to.values()), "expected_edges": self.expected_edges,
                "problems": self.problems, "changes": [c.to_dict() for c in self.changes],
                "diff": self.diff_lines(), "written": self.written, "backup": self.backup}


def plan_build(cluster_name: str, cluster: Cluster, probe: Probe,
               wiring: Literal["mesh", "ring"] = "mesh") -> BuildResult:
    """Turn a probe into the cluster's new ``rdma_to``, validated and diffed against the old one."""
    names = [n.name for n in cluster.nodes]
    rdma_to = rdma_to_from_cables(probe.cables, names)
    report: MeshReport = validate_mesh(names, rdma_to, wiring)
    down: dict[str, list[str]] = {}
    for port in probe.ports:
        if not port.up:
            down.setdefault(port.node, []).append(port.iface)
    doubled = _doubled_cables(probe.cables)
    mesh_problems = []
    for p in report.problems:
        if p.startswith("missing cable: "):
            a, b = p.removeprefix("missing cable: ").split(" <-> ")
            idle = [f"{n} {i}" for n in (a, b) for i in sorted(down.get(n, []))]
            if idle:
                p += f" (ports without a link: {', '.join(idle)}: is the cable plugged in at both ends?)"
            for pair, ends in doubled.items():
                if pair & {a, b}:
                    x, y = sorted(pair)
                    p += (f" ({x} and {y} are joined by {len(ends)} cables: "
                          + ", ".join(f"{n1} {i1} <-> {n2} {i2}" for (n1, i1), (n2, i2) in ends)
                          + f": was one of them meant for {b if a in pair else a}?)")
        mesh_problems.append(p)
    problems = list(dict.fromkeys([*probe.problems, *mesh_problems]))
    return BuildResult(cluster_name, rdma_to, report.expected_edges, problems,
                       diff_rdma_to(cluster.rdma_to, rdma_to), before=(names, cluster.rdma_to))


def _doubled_cables(cables: list[Cable]) -> dict[frozenset[str], list[tuple[End, End]]]:
    """Node pairs joined by more than one cable seen from both ends, with those cables' ends."""
    ends = {(c.node, c.iface, c.peer, c.peer_iface) for c in cables}
    pairs: dict[frozenset[str], set[tuple[End, End]]] = {}
    for a, x, b, y in ends:
        if (b, y, a, x) in ends and a != b:
            first, second = sorted([(a, x), (b, y)])
            pairs.setdefault(frozenset((a, b)), set()).add((first, second))
    return {k: sorted(v) for k, v in pairs.items() if len(v) > 1}


async def probe_wiring(pm: Any, cluster_name: str, cluster: Cluster, timeout: float = 30.0) -> Probe:
    """Ask every installed discoverer to probe the cluster; their findings are merged."""
    from .ssh import run_on_node

    discoverers = pm.discoverers.values()
    if not discoverers:
        raise ConfigError("no discovery plugin is installed", hint="pip install odyssai-discovery-tb5")

    async def run(node: Any, argv: list[str]) -> Any:
        return await run_on_node(node, argv, timeout=timeout)

    merged = Probe()
    for d in discoverers:
        p = await d.probe(cluster_name, cluster, run)
        merged.ports += p.ports
        merged.cables += p.cables
        merged.problems += p.problems
    return merged


async def build_topology(settings: Any, pm: Any, cluster_name: str, *, wiring: Literal["mesh", "ring"] = "mesh",
                         write: bool = True) -> BuildResult:
    """Probe, validate and (when ``write`` and valid) write the cluster's ``rdma_to``.

    Raises ``WiringInvalid`` when the wiring does not validate; nothing is written then.
    To show the result first and write it after a confirmation, call with ``write=False`` and
    then ``write_build`` with the same result: the wiring is probed once, and what is written is
    what was shown.
    """
    cluster = load_topology(settings.topology_path).cluster(cluster_name)
    result = plan_build(cluster_name, cluster, await probe_wiring(pm, cluster_name, cluster), wiring)
    if not result.ok:
        raise WiringInvalid(result)
    return write_build(settings, result) if write else result


def write_build(settings: Any, result: BuildResult) -> BuildResult:
    """Write ``result.rdma_to`` (exactly what was probed and shown) into the cluster's entry.

    The rest of the cluster, and every other cluster, is taken from the file as it is now. When
    the cluster's nodes or ``rdma_to`` changed in the file since the probe, the diff that was shown
    no longer says what writing would do: ``Conflict``, and nothing is written.
    """
    if not result.ok:
        raise WiringInvalid(result)
    path = settings.topology_path
    fresh = load_topology(path).cluster(result.cluster)
    if result.before is not None:
        names, rdma_to = result.before
        if [n.name for n in fresh.nodes] != names or fresh.rdma_to != rdma_to:
            raise Conflict(f"cluster {result.cluster} changed in {path} after the wiring was probed; "
                           "nothing was written", hint=f"run `odyssai topology rebuild {result.cluster}` again")
    backup = save_clusters(path, {result.cluster: fresh.model_copy(update={"rdma_to": result.rdma_to})})
    result.written, result.backup = True, str(backup) if backup else None
    return result
