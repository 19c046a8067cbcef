"""Operations on a cluster's hardware: building its topology, rebooting its nodes.

``POST /admin/{cluster}/topology/build`` and ``.../rebuild`` probe the wiring and write
``rdma_to`` (``{"dry_run": true}`` returns the diff and writes nothing; an invalid wiring is a
422 listing every problem). ``POST /admin/{cluster}/reboot`` reboots all nodes (or
``{"nodes": [...]}``), waits for SSH, and reloads the model that was loaded.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, post
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field, field_validator

from odyssai.names import check_name
from odyssai.wiring import build_topology


class BuildRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False
    wiring: Literal["mesh", "ring"] = "mesh"


class RebootRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nodes: list[str] | None = Field(None, description="node names; default: every node")

    @field_validator("nodes")
    @classmethod
    def _names(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [check_name(n, "node name") for n in v]


class OpsController(Controller):
    path = "/admin/{cluster:str}"
    tags = ["admin"]

    async def _build(self, request: Request, cluster: str, data: BuildRequest | None) -> dict[str, Any]:
        data = data or BuildRequest()
        manager = request.app.state.manager
        manager.get(cluster)  # 404 for an unknown cluster
        result = await build_topology(request.app.state.settings, request.app.state.plugins, cluster,
                                      wiring=data.wiring, write=not data.dry_run)
        manager.refresh()
        return result.to_dict()

    @post("/topology/build", status_code=200)
    async def build(self, request: Request, cluster: FromPath[str],
                    data: JSONBody[BuildRequest | None] = None) -> dict[str, Any]:
        """Probe the Thunderbolt wiring, validate it and write ``rdma_to``."""
        return await self._build(request, cluster, data)

    @post("/topology/rebuild", status_code=200)
    async def rebuild(self, request: Request, cluster: FromPath[str],
                      data: JSONBody[BuildRequest | None] = None) -> dict[str, Any]:
        """Re-probe; the answer carries the before/after diff (a dry run writes nothing)."""
        return await self._build(request, cluster, data)

    @post("/reboot", status_code=200)
    async def reboot(self, request: Request, cluster: FromPath[str],
                     data: JSONBody[RebootRequest | None] = None) -> dict[str, Any]:
        """Reboot the nodes, wait until each answers SSH, reload the model; the flow's timings."""
        c = request.app.state.manager.get(cluster)
        return await c.reboot((data or RebootRequest()).nodes)
