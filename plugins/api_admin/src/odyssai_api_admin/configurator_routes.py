"""The configurator under /admin/clusters: create, change and delete the clusters of topology.yaml.

``PUT /admin/clusters/{cluster}`` ``{backend, nodes, models_dir?, python?}`` creates one;
``POST .../{cluster}/nodes``, ``DELETE .../{cluster}/nodes/{node}``, ``PUT .../{cluster}/backend``
and ``DELETE /admin/clusters/{cluster}`` change or delete it: the operations of
``odyssai cluster ...``, on the same pure functions (``odyssai.configurator``). The server
refuses (409) to change a cluster its manager has loaded or is loading, writes the file with
``save_clusters`` (backup kept, other clusters untouched) and re-reads it (``manager.refresh()``).
Checking the state and writing happen with no ``await`` in between, so a load cannot start
halfway through a change.

Why not ``POST /admin/clusters`` and ``DELETE /admin/{cluster}``: the admin controller already
has ``GET`` on both paths, and Litestar 2.x gives each controller its own automatic OPTIONS
handler, so two controllers sharing one path fail at start-up ("Handler already registered for
path '/admin/clusters' and http method OPTIONS"). And a new static segment (``/admin/config/...``)
would hide a cluster of that name from every ``/admin/{cluster}`` route; ``clusters`` already is
one, so living under it hides nothing more.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from pydantic import BaseModel, ConfigDict, Field

from odyssai import configurator as conf
from odyssai.topology import load_topology, save_clusters


class CreateCluster(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: str = Field(description="an installed transport: ring, jaccl, ...")
    nodes: list[str | dict[str, Any]] = Field(
        description=f"in rank order: '{conf.NODE_SPEC}' or the node's fields ({{'name', 'host', ...}})")
    models_dir: str | None = None
    python: str | None = Field(None, description="default 'python' of every node given as a string")


class SetBackend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: str


def _node(given: str | dict[str, Any], python: str | None = None) -> Any:
    fields = {"spec": given} if isinstance(given, str) else dict(given)
    if python is not None:
        fields.setdefault("python", python)
    return conf.make_node(fields)


def _apply(request: Request, name: str, operation: Any) -> dict[str, Any]:
    """Refuse if ``name`` is loaded here, else apply ``operation(topology)``, write, refresh."""
    manager = request.app.state.manager
    running = manager.clusters.get(name)
    refusal = conf.loaded_refusal(name, running.phase, "this server") if running is not None else None
    if refusal is not None:
        raise refusal
    path = request.app.state.settings.topology_path
    change = operation(load_topology(path))
    backup = save_clusters(path, change.clusters())
    manager.refresh()
    return {"cluster": change.name, "summary": change.summary, "warnings": change.warnings,
            "backup": str(backup) if backup else None,
            "spec": change.cluster.model_dump(mode="json", exclude_none=True) if change.cluster else None}


class ConfiguratorController(Controller):
    path = "/admin/clusters"
    tags = ["configurator"]

    @put("/{cluster:str}", status_code=HTTP_201_CREATED)
    async def create_cluster(self, request: Request, cluster: FromPath[str],
                             data: JSONBody[CreateCluster]) -> dict[str, Any]:
        """Add cluster ``cluster`` to topology.yaml (409 if it exists)."""
        nodes = [_node(n, data.python) for n in data.nodes]
        pm = request.app.state.plugins
        return _apply(request, cluster, lambda topo: conf.create_cluster(
            topo, cluster, data.backend, nodes, pm, models_dir=data.models_dir))

    @post("/{cluster:str}/nodes", status_code=HTTP_201_CREATED)
    async def add_node(self, request: Request, cluster: FromPath[str],
                       data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        """Append a node (``{"spec": "NAME=user@host[:port]", ...}`` or its fields) as the last rank."""
        node = _node(data)
        pm = request.app.state.plugins
        return _apply(request, cluster, lambda topo: conf.add_node(topo, cluster, node, pm))

    @delete("/{cluster:str}/nodes/{node:str}", status_code=HTTP_200_OK)
    async def remove_node(self, request: Request, cluster: FromPath[str], node: FromPath[str]) -> dict[str, Any]:
        """Remove a node (and its cables in rdma_to) from a cluster."""
        pm = request.app.state.plugins
        return _apply(request, cluster, lambda topo: conf.remove_node(topo, cluster, node, pm))

    @put("/{cluster:str}/backend", status_code=HTTP_200_OK)
    async def set_backend(self, request: Request, cluster: FromPath[str], data: JSONBody[SetBackend]) -> dict[str, Any]:
        """Switch a cluster to another installed transport."""
        pm = request.app.state.plugins
        return _apply(request, cluster, lambda topo: conf.set_backend(topo, cluster, data.backend, pm))

    @delete("/{cluster:str}", status_code=HTTP_200_OK)
    async def delete_cluster(self, request: Request, cluster: FromPath[str]) -> dict[str, Any]:
        """Remove a cluster from topology.yaml."""
        return _apply(request, cluster, lambda topo: conf.delete_cluster(topo, cluster))
