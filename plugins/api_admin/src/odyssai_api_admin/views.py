"""Admin routes the dashboard and ``odyssai status --watch`` / ``logs -f`` read.

- ``GET /admin/events`` — Server-Sent Events from the cluster manager's event bus (``hello``
  first, then ``cluster_phase``, ``rank_phase``, ``load_progress``, ``plan``, ``token_rate``,
  ``request_done``, ``error``, ``log``); ``?cluster=`` and ``?types=a,b`` filter.
- ``GET /admin/{cluster}/topology`` — nodes, ``rdma_to``, the mesh check and the SVG layout.
- ``GET /admin/{cluster}/models`` — the models every node has (``ls`` over SSH) and the
  sharding strategies installed.
- ``GET /metrics`` — Prometheus text; it needs the API key when one is set, like every route.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from odyssai.errors import OdyssaiError

from .layout import topology_view
from .metrics import CONTENT_TYPE
from .node_models import cluster_models
from .sse import event_stream

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _statuses(manager: Any) -> list[dict[str, Any]]:
    try:
        manager.refresh()
    except OdyssaiError:  # a broken topology.yaml must not hide the clusters we run
        pass
    return [c.status() for c in manager.clusters.values()]


class ClusterViews(Controller):
    path = "/admin"
    tags = ["admin"]

    @get("/events")
    async def events(self, request: Request, cluster: FromQuery[str | None] = None,
                     types: FromQuery[str | None] = None) -> Stream:
        """Live events as Server-Sent Events, starting with a ``hello`` holding the statuses."""
        manager = request.app.state.manager
        telemetry = request.app.state.telemetry
        if cluster is not None:
            manager.get(cluster)  # 404 now rather than an empty stream
        wanted = {t.strip() for t in types.split(",") if t.strip()} if types else None

        def hello() -> dict[str, Any]:
            if cluster is not None:
                return {"clusters": [manager.get(cluster).status()]}
            return {"clusters": _statuses(manager)}

        def opened() -> None:
            telemetry.event_streams += 1

        def closed() -> None:
            telemetry.event_streams -= 1

        # ``closing``: an asyncio.Event the server may set when it shuts down (ends the stream now)
        stream = event_stream(manager.events, hello, cluster=cluster, types=wanted,
                              closing=getattr(request.app.state, "closing", None), on_open=opened, on_close=closed)
        return Stream(stream, media_type="text/event-stream", headers=SSE_HEADERS)

    @get("/{cluster:str}/topology")
    async def topology(self, request: Request, cluster: FromPath[str]) -> dict[str, Any]:
        """The cluster's nodes and Thunderbolt cables, with one-sided and missing ones named."""
        c = request.app.state.manager.get(cluster)
        return topology_view(c.name, c.spec)

    @get("/{cluster:str}/models")
    async def models(self, request: Request, cluster: FromPath[str]) -> dict[str, Any]:
        """The model directories every node of the cluster has, and the sharding choices."""
        c = request.app.state.manager.get(cluster)
        listing = await cluster_models(c.spec)
        return {"cluster": c.name, **listing, "loaded": c.model,
                "strategies": sorted(request.app.state.plugins.shard_strategies.names())}


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics(request: Request) -> Response[str]:
    """Counters, histograms and gauges of every cluster in Prometheus text format."""
    text = request.app.state.telemetry.render(_statuses(request.app.state.manager))
    return Response(text, media_type=CONTENT_TYPE)
