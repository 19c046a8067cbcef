"""The admin API: load, unload and watch clusters.

``POST /admin/{cluster}/load`` answers 202 at once (the load goes on; watch ``GET
/admin/{cluster}``) or, with ``?wait=true``, when every rank is idle or the load failed.
Bad input — unknown cluster or sharding, malformed JSON, a model name with ``../`` or shell
characters — is refused with a 4xx JSON error before anything is spawned.
"""

from __future__ import annotations

import os
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED
from pydantic import BaseModel, ConfigDict, Field, field_validator

from odyssai.errors import OdyssaiError
from odyssai.names import check_model_name, check_name

FAULTS_ENV = "ODYSSAI_ALLOW_FAULT_INJECTION"


class FaultInjection(BaseModel):
    """Tests only (the server must run with ODYSSAI_ALLOW_FAULT_INJECTION=1)."""

    model_config = ConfigDict(extra="forbid")
    rank: int = Field(ge=0)
    load_error: str = Field(min_length=1, max_length=4000)


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="a model directory under models_dir on every node")
    sharding: str | None = Field(None, description="tensor, pipeline, ...; default: chosen for the model")
    fault_injection: FaultInjection | list[FaultInjection] | None = None

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        return check_model_name(v)

    @field_validator("sharding")
    @classmethod
    def _sharding(cls, v: str | None) -> str | None:
        return None if v is None else check_name(v, "sharding")


def _cluster(request: Request, name: str) -> Any:
    return request.app.state.manager.get(name)


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]

    @get("/clusters")
    async def clusters(self, request: Request) -> dict[str, Any]:
        """Every cluster of the topology and its phase."""
        manager = request.app.state.manager
        manager.refresh()
        return {"clusters": [c.status() for c in manager.clusters.values()]}

    @get("/{cluster:str}")
    async def status(self, request: Request, cluster: FromPath[str]) -> dict[str, Any]:
        """One cluster: backend, model, sharding plan, and each rank's node, phase, progress, pid, error."""
        return _cluster(request, cluster).status()

    @post("/{cluster:str}/load", status_code=HTTP_202_ACCEPTED)
    async def load(self, request: Request, cluster: FromPath[str], data: JSONBody[LoadRequest], wait: FromQuery[bool] = False) -> Response:
        """Load a model. 202 with the cluster's status; with ``wait=true`` 200 when it serves."""
        c = _cluster(request, cluster)
        fault = None
        if data.fault_injection is not None:
            if os.environ.get(FAULTS_ENV) != "1":
                raise OdyssaiError("fault_injection is disabled on this server", param="fault_injection",
                                   hint=f"start the server with {FAULTS_ENV}=1 (tests only)")
            faults = data.fault_injection if isinstance(data.fault_injection, list) else [data.fault_injection]
            fault = {f.rank: f.load_error for f in faults}
        status = await c.load(data.model, data.sharding, wait=wait, fault=fault)
        return Response(status, status_code=HTTP_200_OK if wait else HTTP_202_ACCEPTED)

    @post("/{cluster:str}/unload", status_code=HTTP_200_OK)
    async def unload(self, request: Request, cluster: FromPath[str]) -> dict[str, Any]:
        """Stop every runner of the cluster."""
        return await _cluster(request, cluster).unload()

    @get("/{cluster:str}/logs")
    async def logs(self, request: Request, cluster: FromPath[str], rank: FromQuery[int | None] = None, last: FromQuery[int] = 200) -> dict[str, Any]:
        """The last lines each rank wrote to its log."""
        return {"lines": _cluster(request, cluster).logs(rank, max(1, min(last, 2000)))}
