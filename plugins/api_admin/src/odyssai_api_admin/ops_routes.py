"""Operations on a cluster's hardware: building its topology, rebooting its nodes.

``POST /admin/{cluster}/topology/build`` and ``.../rebuild`` probe the wiring and write
``rdma_to`` (``{"dry_run": true}`` returns the diff and writes nothing; an invalid wiring is a
422 listing every problem). The write probes again; to write only what a dry run showed, pass
that answer's ``rdma_to`` back as ``{"expect": ...}``: when the fresh probe finds other wiring
the answer is a 409 with the new diff (and its ``rdma_to``, to pass back after review), and
nothing is written. ``POST /admin/{cluster}/reboot`` reboots all nodes (or
``{"nodes": [...]}``), waits for SSH, and reloads the model that was loaded.
"""

from __future__ import annotations

from typing import Any, Literal

from litestar import Controller, Request, Response, post
from litestar.params import FromPath, JSONBody
from pydantic import BaseModel, ConfigDict, Field, field_validator

from odyssai.names import check_name
from odyssai.server import error_body
from odyssai.wiring import build_topology, write_build

RdmaTo = dict[str, dict[str, str]]


class BuildRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False
    wiring: Literal["mesh", "ring"] = "mesh"
    expect: RdmaTo | None = Field(
        None, description="the rdma_to a dry run answered: write only if a fresh probe finds exactly it, else 409")


def _edges(rdma_to: RdmaTo | None) -> RdmaTo:
    """``rdma_to`` without nodes that have no cable (``{"a": {}}`` and no ``a`` say the same)."""
    return {node: dict(peers) for node, peers in (rdma_to or {}).items() if peers}


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

    async def _build(self, request: Request, cluster: str, data: BuildRequest | None) -> Response[dict[str, Any]]:
        data = data or BuildRequest()
        manager = request.app.state.manager
        settings = request.app.state.settings
        manager.get(cluster)  # 404 for an unknown cluster
        checked = data.expect is not None and not data.dry_run
        result = await build_topology(settings, request.app.state.plugins, cluster,
                                      wiring=data.wiring, write=not data.dry_run and not checked)
        if checked:
            if _edges(result.rdma_to) != _edges(data.expect):
                body = error_body(
                    f"the wiring of {cluster} changed since the dry run: the probe now finds "
                    f"{'; '.join(result.diff_lines()) or 'no change from the file'}; nothing was written "
                    "(review this diff, then send its rdma_to as expect)", "conflict_error", "expect",
                    "wiring_changed")
                return Response(body | result.to_dict(), status_code=409)
            write_build(settings, result)  # exactly what was expected: no third probe
        manager.refresh()
        return Response(result.to_dict(), status_code=200)

    @post("/topology/build", status_code=200)
    async def build(self, request: Request, cluster: FromPath[str],
                    data: JSONBody[BuildRequest | None] = None) -> Response[dict[str, Any]]:
        """Probe the Thunderbolt wiring, validate it and write ``rdma_to``.

        With ``expect`` (a dry run's ``rdma_to``), a fresh probe that finds other wiring is a 409
        carrying the new diff and ``rdma_to``, and nothing is written.
        """
        return await self._build(request, cluster, data)

    @post("/topology/rebuild", status_code=200)
    async def rebuild(self, request: Request, cluster: FromPath[str],
                      data: JSONBody[BuildRequest | None] = None) -> Response[dict[str, Any]]:
        """Re-probe; the answer carries the before/after diff (a dry run writes nothing).

        Pass the dry run's ``rdma_to`` back as ``expect`` to write only what was reviewed: a probe
        that now differs is a 409 with the new diff, and nothing is written.
        """
        return await self._build(request, cluster, data)

    @post("/reboot", status_code=200)
    async def reboot(self, request: Request, cluster: FromPath[str],
                     data: JSONBody[RebootRequest | None] = None) -> dict[str, Any]:
        """Reboot the nodes, wait until each answers SSH, reload the model; the flow's timings."""
        c = request.app.state.manager.get(cluster)
        return await c.reboot((data or RebootRequest()).nodes)
