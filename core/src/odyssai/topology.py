"""``topology.yaml``: the clusters, their nodes, their backend and their RDMA wiring.

Loading gives one-line errors that name the file, the YAML line, the cluster, the node and the
field. Saving is atomic, keeps a timestamped backup (the newest ``BACKUPS_KEPT`` = 20 of them;
older ones are deleted), writes mode 0600 and rewrites only what it was asked to change: every
other cluster, and every comment outside the changed lines, stays byte for byte (``ruamel.yaml``
locates them). ``validate_mesh`` is pure.
"""

from __future__ import annotations

import datetime as _dt
import io
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import NotFound, TopologyError
from .names import check_cluster_name, check_host, check_name, check_path, check_user

log = logging.getLogger("odyssai.topology")


class Node(BaseModel):
    """One machine of a cluster. Its position in ``Cluster.nodes`` is its rank."""

    model_config = ConfigDict(extra="forbid")

    name: str
    host: str = Field(description="SSH host name or address")
    port: int = Field(22, ge=1, le=65535, description="SSH port")
    user: str | None = Field(None, description="SSH user (default: the current user)")
    ip: IPv4Address | None = Field(None, description="Ethernet IPv4 the ring backend uses; default: host")
    python: str = Field("python3", description="Python on the node that has odyssai[runner]")
    models_dir: str | None = Field(None, description="where models live on this node; default: the cluster's")
    reboot_command: str = Field("sudo shutdown -r now", description="run over SSH to reboot the node")
    identity_file: str | None = Field(None, description="SSH private key (default: the SSH agent / ~/.ssh)")
    known_hosts: str | None = Field(None, description="known_hosts file to verify the host key against")
    spawner: Literal["ssh", "local"] = Field("ssh", description="'local' runs the rank on this machine without SSH")
    memory_bytes: int | None = Field(None, gt=0, description="memory to plan with instead of the node's reading")

    _v_name = field_validator("name")(lambda v: check_name(v, "node name"))
    _v_host = field_validator("host")(lambda v: check_host(v))

    @field_validator("user")
    @classmethod
    def _v_user(cls, v: str | None) -> str | None:
        return None if v is None else check_user(v)

    @field_validator("python", "models_dir", "identity_file", "known_hosts")
    @classmethod
    def _v_paths(cls, v: str | None) -> str | None:
        return None if v is None else check_path(v)

    @property
    def ethernet_ip(self) -> str:
        """The address ranks use to reach this node; ``ip`` or else ``host`` when it is IPv4."""
        if self.ip is not None:
            return str(self.ip)
        if self.spawner == "local" or self.host == "localhost":
            return "127.0.0.1"
        try:
            return str(IPv4Address(self.host))
        except ValueError:
            raise TopologyError(
                f"node {self.name!r} has no Ethernet IPv4",
                hint="set 'ip:' for it in topology.yaml; the ring backend needs IPv4") from None


class Cluster(BaseModel):
    """A named group of nodes that serve one model together."""

    model_config = ConfigDict(extra="forbid")

    backend: str = Field("ring", description="transport name: ring, jaccl, ...")
    models_dir: str = Field("~/.odysseus/models", description="default models_dir of every node (where `odyssai models pull` puts models)")
    nodes: list[Node] = Field(min_length=1, max_length=8)
    rdma_to: dict[str, dict[str, str]] | None = Field(
        None, description="node -> peer -> RDMA device (e.g. rdma_en3)")
    port_base: int | None = Field(None, ge=1024, le=65000,
                                  description="first TCP port of the backend; default: derived from the name")

    _v_backend = field_validator("backend")(lambda v: check_name(v, "backend"))

    @model_validator(mode="after")
    def _unique_nodes(self) -> "Cluster":
        seen: set[str] = set()
        for n in self.nodes:
            if n.name in seen:
                raise ValueError(f"duplicate node name {n.name!r}")
            seen.add(n.name)
        return self

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise NotFound(f"no node {name!r} in this cluster",
                       hint=f"nodes are: {', '.join(n.name for n in self.nodes)}")

    def models_dir_of(self, node: Node) -> str:
        return node.models_dir or self.models_dir


class Topology(BaseModel):
    """The whole file: clusters by name."""

    model_config = ConfigDict(extra="forbid")

    clusters: dict[str, Cluster] = Field(default_factory=dict)

    @field_validator("clusters")
    @classmethod
    def _v_names(cls, v: dict[str, Cluster]) -> dict[str, Cluster]:
        for name in v:
            check_cluster_name(name)
        return v

    def cluster(self, name: str) -> Cluster:
        try:
            return self.clusters[name]
        except KeyError:
            known = ", ".join(sorted(self.clusters)) or "none"
            raise NotFound(f"no cluster {name!r} in the topology",
                           hint=f"known clusters: {known}") from None


# --- reading -----------------------------------------------------------------------------

def _describe_location(loc: tuple[Any, ...], raw: Any) -> str:
    """Turn a pydantic error location into 'cluster 'a' node 'n1' field 'port''."""
    parts: list[str] = []
    i = 0
    if loc[:1] == ("clusters",) and len(loc) > 1:
        cname = loc[1]
        parts.append(f"cluster {cname!r}")
        i = 2
        if loc[2:3] == ("nodes",) and len(loc) > 3 and isinstance(loc[3], int):
            try:
                nname = raw["clusters"][cname]["nodes"][loc[3]].get("name", f"#{loc[3]}")
            except Exception:
                nname = f"#{loc[3]}"
            parts.append(f"node {nname!r}")
            i = 4
    rest = [str(x) for x in loc[i:]]
    if rest:
        parts.append(f"field {'.'.join(rest)!r}")
    return " ".join(parts) or "top level"


def parse_topology(text: str, source: str = "topology.yaml") -> Topology:
    """Parse YAML text into a Topology; every error is one line naming where it is."""
    try:
        raw = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise TopologyError(f"{source}:{where} YAML syntax error: {problem}",
                            hint="fix the file or restore a backup next to it") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise TopologyError(f"{source}: the top level must be a mapping with 'clusters:'")
    try:
        return Topology.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = _describe_location(tuple(err["loc"]), raw)
        msg = err["msg"].removeprefix("Value error, ")
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise TopologyError(f"{source}: {where}: {msg}{more}") from None


def _read_text(path: Path) -> str:
    """The text of ``path``; unreadable (a directory, no permission, not UTF-8) is a TopologyError."""
    try:
        return path.read_bytes().decode("utf-8")  # line ends as they are: a save keeps them
    except UnicodeDecodeError as e:
        raise TopologyError(f"{path}: not a UTF-8 text file (byte {e.start}: {e.reason})",
                            hint="fix the file or restore a backup next to it") from None
    except IsADirectoryError:
        raise TopologyError(f"{path}: is a directory, not a topology file",
                            hint="move it away, or point ODYSSAI_TOPOLOGY at the file") from None
    except OSError as e:
        raise TopologyError(f"{path}: cannot be read: {e.strerror or e}") from None


def load_topology(path: Path) -> Topology:
    """Read ``path``; a missing file is an empty topology."""
    path = Path(path)
    if not path.exists():
        return Topology()
    return parse_topology(_read_text(path), str(path))


# --- writing -----------------------------------------------------------------------------

#: how many ``topology.yaml.bak-*`` files a save keeps next to the file (the newest ones)
BACKUPS_KEPT = 20

_BACKUP_RE = r"\.bak-(\d{8}-\d{6})(?:-(\d+))?"


def _backups(path: Path) -> list[tuple[tuple[str, int], Path]]:
    """The backups of ``path`` (``<name>.bak-<stamp>[-<n>]``), oldest first."""
    pattern = re.compile(re.escape(path.name) + _BACKUP_RE + "$")
    found = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return []
    for p in entries:
        m = pattern.match(p.name)
        if m and p.is_file():
            found.append(((m.group(1), int(m.group(2) or 0)), p))
    return sorted(found)


def _backup_name(path: Path) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    taken = [n for (s, n), _p in _backups(path) if s == stamp]
    if not taken and not path.with_name(f"{path.name}.bak-{stamp}").exists():
        return path.with_name(f"{path.name}.bak-{stamp}")
    n = max(taken, default=0) + 1  # always after every backup of this second, so the order stays right
    while path.with_name(f"{path.name}.bak-{stamp}-{n}").exists():
        n += 1
    return path.with_name(f"{path.name}.bak-{stamp}-{n}")


def _prune_backups(path: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` backups of ``path`` (best effort)."""
    backups = [p for _key, p in _backups(path)]
    for old in backups[:max(len(backups) - keep, 0)]:
        try:
            old.unlink()
        except OSError:
            pass


def _cluster_to_raw(cluster: Cluster) -> dict[str, Any]:
    """The cluster as the file writes it: fields in declaration order, defaults left out (but
    ``backend``, ``name`` and ``host`` always written)."""
    raw = cluster.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {
        "backend": cluster.backend, "nodes": [
            {"name": n.name, "host": n.host} | n.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
            for n in cluster.nodes]}
    return {f: raw[f] for f in Cluster.model_fields if f in raw}


class _BlockDumper(yaml.SafeDumper):
    """PyYAML's safe dumper with block sequences indented under their key (``  - {...}``).

    Fragments are emitted by PyYAML, not ruamel: the file is read back with PyYAML (YAML 1.1),
    so strings such as ``yes`` or ``on`` must be quoted the way 1.1 needs.
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _emit(key: str, value: Any, col: int, nl: str) -> list[str]:
    """``key: value`` as YAML lines indented by ``col``: nodes and rdma_to rows one line each."""
    text = yaml.dump({key: value}, Dumper=_BlockDumper, sort_keys=False, width=4096, allow_unicode=True,
                     default_flow_style=None if isinstance(value, (dict, list)) else False)
    return [" " * col + line + nl for line in text.splitlines()]


def _round_trip() -> Any:
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _is_block_map(x: Any) -> bool:
    from ruamel.yaml.comments import CommentedMap

    return isinstance(x, CommentedMap) and not x.fa.flow_style()


def _is_content(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#")


def _key_spans(lines: list[str], cmap: Any, region_end: int) -> tuple[int, dict[str, tuple[int, int]]] | None:
    """The column of a block mapping's keys and each key's lines ``[start, end)`` in ``lines``.

    A key's lines run from the key to the last non-comment line before the next key, so the
    comments between two keys stay outside both. ``None`` when the positions look wrong.
    """
    keys = list(cmap)
    if not keys:
        return None
    pos = [tuple(cmap.lc.key(k)) for k in keys]
    cols = {c for _l, c in pos}
    if len(cols) != 1:
        return None
    col = cols.pop()
    spans: dict[str, tuple[int, int]] = {}
    for i, (k, (line, c)) in enumerate(zip(keys, pos)):
        nxt = pos[i + 1][0] if i + 1 < len(pos) else region_end
        if not (0 <= line < nxt <= region_end) or not isinstance(k, str):
            return None
        if not lines[line][c:].startswith((k, '"', "'")):
            return None
        last = max(j for j in range(line, nxt) if j == line or _is_content(lines[j]))
        spans[k] = (line, last + 1)
    return col, spans


def _comments_above(lines: list[str], start: int, col: int) -> int:
    """The first of the comment lines at column ``col`` right above ``start`` (they describe it)."""
    while start > 0 and lines[start - 1].strip().startswith("#") and \
            len(lines[start - 1]) - len(lines[start - 1].lstrip(" ")) == col:
        start -= 1
    return start


def _splice(text: str, old: Topology, changes: dict[str, Cluster | None]) -> str | None:
    """Rewrite only the lines of what changed; every other byte of the file stays as it is.

    A changed cluster keeps the lines of its unchanged fields (``backend``, ``nodes``, ...) and
    gets its changed fields re-emitted; a new cluster is added after the last one. ``None`` when
    the file's shape does not allow it (flow style, no clusters yet...).
    """
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += nl
    doc = _round_trip().load(text)
    edits: list[tuple[int, int, list[str]]] = []

    def edit(start: int, end: int, new: list[str]) -> None:
        edits.append((start, end, new))

    if doc is None:  # an empty file, or only comments
        added = {n: c for n, c in changes.items() if c is not None}
        if not added:
            return None
        edit(len(lines), len(lines), ["clusters:" + nl] +
             [x for n, c in added.items() for x in _emit(n, _cluster_to_raw(c), 2, nl)])
    else:
        if not _is_block_map(doc) or list(doc) != ["clusters"] or not _is_block_map(doc["clusters"]):
            return None
        cmap = doc["clusters"]
        found = _key_spans(lines, cmap, len(lines))
        if found is None:
            return None
        col, spans = found
        if not any(c is not None for c in changes.values()) and set(spans) <= set(changes):
            return None  # every cluster goes: ``clusters: {}`` is the round trip's job
        tail = max(end for _s, end in spans.values())
        for name, cluster in changes.items():
            if name not in spans:
                if cluster is not None:
                    edit(tail, tail, _emit(name, _cluster_to_raw(cluster), col, nl))
                continue
            start, end = spans[name]
            if cluster is None:
                edit(_comments_above(lines, start, col), end, [])
                continue
            before = old.clusters[name]
            if cluster == before:
                continue
            inner = _key_spans(lines, cmap[name], end) if _is_block_map(cmap[name]) else None
            if inner is None:
                edit(start, end, _emit(name, _cluster_to_raw(cluster), col, nl))
                continue
            icol, ispans = inner
            raw = _cluster_to_raw(cluster)
            for f in Cluster.model_fields:
                if getattr(before, f) == getattr(cluster, f):
                    continue
                if f in ispans:
                    s, e = ispans[f]
                    if f in raw:
                        edit(s, e, _emit(f, raw[f], icol, nl))
                    else:
                        edit(_comments_above(lines, s, icol), e, [])
                elif f in raw:
                    edit(end, end, _emit(f, raw[f], icol, nl))
    out: list[str] = []
    pos = 0
    order = sorted(range(len(edits)), key=lambda i: (edits[i][0], edits[i][1] > edits[i][0], i))
    for i in order:
        start, end, new = edits[i]
        if start < pos:
            return None
        out += lines[pos:start] + new
        pos = end
    return "".join(out + lines[pos:])


def _round_trip_all(text: str, changes: dict[str, Cluster | None]) -> str | None:
    """The whole file through ruamel's round trip: comments kept, layout normalised."""
    from ruamel.yaml.comments import CommentedMap

    rt = _round_trip()
    doc = rt.load(text) if text.strip() else None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        return None
    clusters = doc.get("clusters")
    if not isinstance(clusters, CommentedMap):
        clusters = doc["clusters"] = CommentedMap()
    for name, cluster in changes.items():
        if cluster is None:
            clusters.pop(name, None)
        else:  # PyYAML's text (YAML 1.1 quoting) loaded by ruamel keeps its quotes and flow rows
            clusters[name] = rt.load("".join(_emit(name, _cluster_to_raw(cluster), 0, "\n")))[name]
    buf = io.StringIO()
    rt.dump(doc, buf)
    return buf.getvalue()


def _plain(text: str, changes: dict[str, Cluster | None]) -> str:
    """The file rewritten from its data alone (comments lost): the last resort."""
    raw = (yaml.safe_load(text) if text.strip() else None) or {}
    clusters = dict(raw.get("clusters") or {})
    for name, cluster in changes.items():
        if cluster is None:
            clusters.pop(name, None)
        else:
            clusters[name] = _cluster_to_raw(cluster)
    raw["clusters"] = clusters
    return yaml.safe_dump(raw, sort_keys=False, default_flow_style=False)


def _render(text: str, old: Topology, changes: dict[str, Cluster | None], source: str) -> str:
    """The new file's text: the most faithful rendering that reads back as exactly the new topology."""
    expected = dict(old.clusters)
    for name, cluster in changes.items():
        if cluster is None:
            expected.pop(name, None)
        else:
            expected[name] = cluster
    for attempt in (lambda: _splice(text, old, changes), lambda: _round_trip_all(text, changes)):
        try:
            candidate = attempt()
            if candidate is not None and parse_topology(candidate, source).clusters == expected:
                return candidate
        except Exception as e:  # a shape the faithful writers cannot handle: fall back, never fail
            log.debug("topology: faithful rewrite of %s not possible (%s: %s)", source, type(e).__name__, e)
    candidate = _plain(text, changes)
    parse_topology(candidate, source)
    return candidate


def save_clusters(path: Path, changes: dict[str, Cluster | None], *, keep_backups: int = BACKUPS_KEPT) -> Path | None:
    """Write ``changes`` into the topology file at ``path`` and return the backup's path.

    ``changes`` maps cluster name to its new value, or ``None`` to delete it. Clusters not named
    are kept byte for byte, with their comments, and so are the file's other comments and the
    unchanged fields of a changed cluster (``ruamel.yaml`` finds them; only the changed lines are
    rewritten; a file whose shape does not allow that goes through ruamel's round trip, which also
    keeps comments). The new file is checked to read back as exactly the new topology before it
    replaces the old one (atomically, mode 0600); the old one is kept as
    ``topology.yaml.bak-<time>``, and only the newest ``keep_backups`` (20) backups are kept:
    older ones are deleted after the write.
    """
    path = Path(path)
    for name in changes:
        check_cluster_name(name)
    text, old = "", Topology()
    if path.exists():
        text = _read_text(path)
        old = parse_topology(text, str(path))  # refuse to rewrite a file that is already broken
    new_text = _render(text, old, changes, str(path))

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    backup = None
    if path.exists():
        backup = _backup_name(path)
        backup.write_bytes(path.read_bytes())
        os.chmod(backup, 0o600)
    fd, tmp = tempfile.mkstemp(prefix=".topology-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(new_text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _prune_backups(path, keep_backups)
    return backup


# --- mesh validation (pure) ----------------------------------------------------------------

@dataclass
class MeshReport:
    """What ``validate_mesh`` found. ``ok`` when ``problems`` is empty."""

    expected_edges: int
    edges: list[tuple[str, str, str]] = field(default_factory=list)  # (node, peer, device)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_mesh(node_names: list[str], rdma_to: dict[str, dict[str, str]] | None,
                  wiring: Literal["mesh", "ring"] = "mesh") -> MeshReport:
    """Check that ``rdma_to`` describes a symmetric mesh (or ring) over ``node_names``.

    A full mesh has N·(N−1) directed edges; a ring has 2·N (N>2) edges between neighbours in
    rank order. Every cable must be seen from both ends. Each one-sided, missing, unknown or
    self edge is listed by name.
    """
    n = len(node_names)
    rdma_to = rdma_to or {}
    if wiring == "mesh":
        wanted = {(a, b) for a in node_names for b in node_names if a != b}
    else:
        wanted = set()
        for i, a in enumerate(node_names):
            for j in ((i - 1) % n, (i + 1) % n):
                if node_names[j] != a:
                    wanted.add((a, node_names[j]))
    report = MeshReport(expected_edges=len(wanted))
    known = set(node_names)
    for a, peers in sorted(rdma_to.items()):
        if a not in known:
            report.problems.append(f"rdma_to names {a!r}, which is not a node of the cluster")
            continue
        for b, dev in sorted((peers or {}).items()):
            if b == a:
                report.problems.append(f"{a} lists a cable to itself ({dev})")
            elif b not in known:
                report.problems.append(f"{a} -> {b} ({dev}): {b!r} is not a node of the cluster")
            else:
                report.edges.append((a, b, dev))
    have = {(a, b) for a, b, _ in report.edges}
    dev_of = {(a, b): d for a, b, d in report.edges}
    for a, b in sorted(wanted):
        if (a, b) in have and (b, a) not in have:
            report.problems.append(
                f"one-sided cable: {a} -> {b} ({dev_of[(a, b)]}) is not seen from {b}")
        elif (a, b) not in have and (b, a) not in have and a < b:
            report.problems.append(f"missing cable: {a} <-> {b}")
    for a, b in sorted(have - wanted):
        if wiring == "ring":
            report.problems.append(f"unexpected cable {a} -> {b} in a ring")
    return report
