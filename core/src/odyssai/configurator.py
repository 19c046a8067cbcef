"""Changes to ``topology.yaml`` as pure functions: read a node spec, apply one operation.

Each operation takes the current ``Topology`` and returns a ``Change``: the one cluster it
rewrites (or deletes), a one-line summary and any warnings (e.g. a jaccl cluster that still
needs ``odyssai topology build``). Nothing here reads or writes a file or asks a server. The
CLI (``odyssai cluster ...``) and the admin API (``/admin/clusters``...) load the topology,
make sure the cluster is not loaded (``loaded_refusal`` / the server's own state), apply the
operation and write ``change.clusters()`` with ``topology.save_clusters``, which keeps every
other cluster exactly as it was.

Every name a user types is validated before it can reach a file or a remote command; every
refusal is one ``OdyssaiError`` line with the next step as its hint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from pydantic import ValidationError

from .errors import Conflict, OdyssaiError
from .names import check_cluster_name, check_name
from .topology import Cluster, Node, Topology

#: server phases in which a cluster runs nothing, so its definition may change
CHANGEABLE_PHASES = frozenset({"unloaded", "failed"})
NODE_SPEC = "NAME=user@host[:port]"


class Transports(Protocol):
    """What the operations need from the plugin manager: ``pm.transport(name)``."""

    def transport(self, name: str) -> Any: ...


@dataclass(frozen=True)
class Change:
    """The outcome of one operation: cluster ``name`` becomes ``cluster`` (None: deleted)."""

    name: str
    cluster: Cluster | None
    summary: str
    warnings: list[str] = field(default_factory=list)

    def clusters(self) -> dict[str, Cluster | None]:
        """The argument ``topology.save_clusters`` takes."""
        return {self.name: self.cluster}


# --- node specs ------------------------------------------------------------------------------

@dataclass(frozen=True)
class NodeSpec:
    """``NAME=user@host[:port]`` taken apart (not yet validated)."""

    name: str
    host: str
    user: str | None = None
    port: int | None = None


def parse_node_spec(spec: str) -> NodeSpec:
    """``n1=admin@10.0.0.11:2222`` -> NodeSpec; user and port are optional, IPv6 goes in ``[]``."""
    def bad(why: str) -> OdyssaiError:
        return OdyssaiError(f"node {spec!r}: {why}", hint=f"write it as {NODE_SPEC}", param="node")

    name, eq, target = spec.partition("=")
    if not eq or not name or not target:
        raise bad("expected NAME=...")
    user, at, hostport = target.rpartition("@")
    if at and not user:
        raise bad("the user before '@' is empty")
    host, port = hostport, None
    if hostport.startswith("["):
        host, close, rest = hostport[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise bad("an IPv6 address goes in brackets: [addr]:port")
        port = rest[1:] if rest else None
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    if not host:
        raise bad("the host is empty")
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise bad(f"port {port!r} is not a number from 1 to 65535")
    return NodeSpec(name, host, user or None, int(port) if port else None)


def make_node(fields: Mapping[str, Any]) -> Node:
    """A validated ``Node`` from its fields; ``spec`` (NAME=user@host[:port]) may give the first four.

    A bad value is one line naming the node and the field, e.g. a host with shell characters.
    """
    fields = {k: v for k, v in fields.items() if v is not None}
    if "spec" in fields:
        parsed = parse_node_spec(str(fields.pop("spec")))
        fields = {"name": parsed.name, "host": parsed.host, "user": parsed.user, "port": parsed.port,
                  **fields}
        fields = {k: v for k, v in fields.items() if v is not None}
    label = repr(fields.get("name", "?"))
    try:
        check_name(str(fields.get("name", "")), "node name")
        return Node.model_validate(fields)
    except ValueError as e:
        errors = e.errors() if isinstance(e, ValidationError) else None
        if errors:
            where = ".".join(str(x) for x in errors[0]["loc"]) or "node"
            msg = errors[0]["msg"].removeprefix("Value error, ")
            said = msg if re.search(rf"\b{re.escape(where)}\b", msg, re.I) else f"{where}: {msg}"
            raise OdyssaiError(f"node {label}: {said}", param=where) from None
        raise OdyssaiError(str(e), param="name") from None


# --- operations ------------------------------------------------------------------------------

def _backend_warnings(pm: Transports, backend: str, name: str, cluster: Cluster, topo: Topology) -> list[str]:
    """Raise ``TransportMissing`` when no plugin provides ``backend``; the transport's own
    complaints about the cluster (no rdma_to yet, a node without IPv4, ports another cluster
    of ``topo`` uses...) become warnings."""
    transport = pm.transport(backend)
    try:
        transport.check(name, cluster, others=topo.others(name))
    except OdyssaiError as e:
        return [f"cluster {name} will not load on {backend} yet: {e}"]
    return []


def _existing(topo: Topology, name: str) -> Cluster:
    return topo.cluster(name)  # NotFound listing the known clusters


def _rebuilt(name: str, cluster: Cluster | None, **update: Any) -> Cluster:
    """``cluster`` (or nothing) with ``update`` applied, validated again as a whole."""
    data = (cluster.model_dump() if cluster is not None else {}) | update
    try:
        return Cluster.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise OdyssaiError(f"cluster {name}: {err['msg'].removeprefix('Value error, ')}") from None


def create_cluster(topo: Topology, name: str, backend: str, nodes: list[Node], pm: Transports, *,
                   models_dir: str | None = None) -> Change:
    """A new cluster ``name`` of ``nodes`` (in rank order) on ``backend``."""
    try:
        check_cluster_name(name)
        check_name(backend, "backend")
    except ValueError as e:
        raise OdyssaiError(str(e), param="name") from None
    if name in topo.clusters:
        raise Conflict(f"cluster {name!r} already exists",
                       hint=f"pick another name, or change it with `odyssai cluster add-node {name} ...`")
    if not nodes:
        raise OdyssaiError(f"cluster {name!r} needs at least one node", param="nodes",
                           hint=f"add --node {NODE_SPEC}")
    seen: set[str] = set()
    for n in nodes:
        if n.name in seen:
            raise Conflict(f"node name {n.name!r} is given twice", param="nodes",
                           hint="every node of a cluster needs its own name")
        seen.add(n.name)
    fields: dict[str, Any] = {"backend": backend, "nodes": nodes}
    if models_dir is not None:
        fields["models_dir"] = models_dir
    cluster = _rebuilt(name, None, **fields)
    warnings = _backend_warnings(pm, backend, name, cluster, topo)
    return Change(name, cluster, f"created cluster {name} ({backend}, {len(nodes)} node(s))", warnings)


def add_node(topo: Topology, name: str, node: Node, pm: Transports) -> Change:
    """Cluster ``name`` with ``node`` appended as its last rank."""
    cluster = _existing(topo, name)
    if any(n.name == node.name for n in cluster.nodes):
        raise Conflict(f"cluster {name} already has a node {node.name!r}", param="name",
                       hint="pick another name, or remove the old node first")
    new = _rebuilt(name, cluster, nodes=[*cluster.nodes, node])
    warnings = _backend_warnings(pm, new.backend, name, new, topo)
    return Change(name, new, f"added node {node.name} to cluster {name} as rank {len(new.nodes) - 1}",
                  warnings)


def remove_node(topo: Topology, name: str, node_name: str, pm: Transports) -> Change:
    """Cluster ``name`` without ``node_name``; its cables leave ``rdma_to`` too."""
    cluster = _existing(topo, name)
    cluster.node(node_name)  # NotFound listing the nodes
    if len(cluster.nodes) == 1:
        raise Conflict(f"{node_name} is the only node of cluster {name}",
                       hint=f"delete the cluster instead: odyssai cluster delete {name}")
    rdma_to = None
    if cluster.rdma_to:
        rdma_to = {a: {b: d for b, d in peers.items() if b != node_name}
                   for a, peers in cluster.rdma_to.items() if a != node_name} or None
    new = _rebuilt(name, cluster, nodes=[n for n in cluster.nodes if n.name != node_name],
                   rdma_to=rdma_to)
    warnings = _backend_warnings(pm, new.backend, name, new, topo)
    return Change(name, new, f"removed node {node_name} from cluster {name} ({len(new.nodes)} left)",
                  warnings)


def set_backend(topo: Topology, name: str, backend: str, pm: Transports) -> Change:
    """Cluster ``name`` on another installed transport."""
    cluster = _existing(topo, name)
    try:
        check_name(backend, "backend")
    except ValueError as e:
        raise OdyssaiError(str(e), param="backend") from None
    new = _rebuilt(name, cluster, backend=backend)
    warnings = _backend_warnings(pm, backend, name, new, topo)
    return Change(name, new, f"cluster {name} now uses backend {backend} (was {cluster.backend})",
                  warnings)


def delete_cluster(topo: Topology, name: str) -> Change:
    """Cluster ``name`` removed from the file."""
    cluster = _existing(topo, name)
    return Change(name, None, f"deleted cluster {name} ({len(cluster.nodes)} node(s))")


# --- is it loaded? ---------------------------------------------------------------------------

def loaded_refusal(name: str, phase: str | None, where: str) -> Conflict | None:
    """The error that refuses a change while cluster ``name`` is ``phase`` at ``where``, or None."""
    if phase is None or phase in CHANGEABLE_PHASES:
        return None
    return Conflict(f"cluster {name} is {phase} on {where}: it cannot be changed while loaded",
                    hint=f"unload it first: odyssai unload {name}")


def answer_refusal(name: str, status_code: int, body: Any, url: str) -> Conflict | None:
    """Read the server's answer to ``GET /admin/{name}``: a refusal, or None to go on.

    404 means the server does not run that cluster; an error the CLI cannot see past (a wrong
    API key, a server error) refuses, because then nobody can tell the cluster is not loaded.
    """
    if status_code == 404:
        return None
    if status_code >= 400:
        message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        hint = "set ODYSSAI_API_KEY to the server's key" if status_code == 401 else "check the server's log"
        return Conflict(f"cannot tell whether cluster {name} is loaded: the server at {url} answered "
                        f"HTTP {status_code}" + (f" ({message})" if message else ""), hint=hint)
    phase = body.get("phase") if isinstance(body, dict) else None
    return loaded_refusal(name, phase, f"the server at {url}")
