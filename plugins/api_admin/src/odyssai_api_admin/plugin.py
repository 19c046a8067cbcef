"""Hook implementations of odyssai-api-admin: the admin routes, events, metrics and dashboard
as a Litestar InitPlugin."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from odyssai import hookimpl

from .dashboard import asset, index
from .configurator_routes import ConfiguratorController
from .ops_routes import OpsController
from .routes import AdminController
from .telemetry import Telemetry
from .views import ClusterViews, metrics


@asynccontextmanager
async def count_events(app: Litestar) -> AsyncIterator[None]:
    """Feed the server's Telemetry from the cluster manager's events while the app runs."""
    task = asyncio.create_task(app.state.telemetry.run(app.state.manager.events))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class AdminAPI(InitPluginProtocol):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers += [AdminController, ClusterViews, OpsController, ConfiguratorController, metrics, index, asset]
        app_config.state["telemetry"] = Telemetry()
        app_config.lifespan.append(count_events)
        return app_config


@hookimpl
def odyssai_litestar_plugins():
    return [AdminAPI()]
