"""An example plugin: registers a transport, contributes a route and a CLI command."""

from litestar import get
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol

from odyssai import hookimpl
from odyssai.transport import RankSetup, Transport


class ExampleTransport(Transport):
    name = "example"
    mlx_backend = "ring"

    def rank_setup(self, cluster_name, cluster, rank, others=None):
        return RankSetup(env={"EXAMPLE_RANK": str(rank)})


@get("/example/ping", sync_to_thread=False)
def ping() -> dict:
    return {"pong": True}


@get("/example/boom", sync_to_thread=False)
def boom() -> dict:
    raise RuntimeError("the example handler failed on purpose")


class ExampleRoutes(InitPluginProtocol):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend([ping, boom])
        return app_config


@hookimpl
def odyssai_register_transports(register):
    register(ExampleTransport())


@hookimpl
def odyssai_litestar_plugins():
    return [ExampleRoutes()]


@hookimpl
def odyssai_cli(app):
    @app.command("example-hello")
    def example_hello() -> None:
        """Say hello from the example plugin."""
        print("hello from odyssai-example")
