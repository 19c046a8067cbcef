"""``topology.yaml``: the clusters, their nodes, their backend and their RDMA wiring.

Loading gives one-line errors that name the file, the YAML line, the cluster, the node and the
field. Saving is atomic, keeps a timestamped backup (the newest ``BACKUPS_KEPT`` = 20 of them;
older ones are deleted), writes mode 0600 and rewrites only what it was asked to change: every
other cluster, and every comment outside the changed lines, stays byte for byte (``ruamel.yaml``
locates them). ``validate_mesh`` is pure.
"""

from __future__ import annotations

import datetime as _dt
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

    def others(self, name: str) -> dict[str, Cluster]:
        """Every cluster but ``name`` (what a transport keeps clear of)."""
        return {n: c for n, c in self.clusters.items() if n != name}

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
    from .topology_text import render

    new_text = render(text, old, changes, str(path))

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
