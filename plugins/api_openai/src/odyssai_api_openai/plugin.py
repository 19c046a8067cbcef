"""Hook implementations of odyssai-api-openai: the /v1 routes as a Litestar InitPlugin."""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from odyssai import hookimpl

from .routes import OpenAIController


class OpenAIAPI(InitPluginProtocol):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(OpenAIController)
        return app_config


@hookimpl
def odyssai_litestar_plugins():
    return [OpenAIAPI()]
