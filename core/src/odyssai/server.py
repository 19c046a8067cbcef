"""The HTTP server: a Litestar app with core's routes and every API plugin mounted.

Core serves ``/healthz`` and the OpenAPI schema; API plugins (``odyssai_litestar_plugins``) add
their routes. Every error is a JSON body in OpenAI's shape
``{"error": {"message", "type", "param", "code"}}`` — never an HTML page or a traceback.
When an API key is set, every route requires ``Authorization: Bearer <key>`` except those
whose handler declares ``opt={"public": True}``.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from litestar import Litestar, Request, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.logging.config import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.pydantic import PydanticPlugin
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from . import __version__
from .errors import OdyssaiError, Unavailable

log = logging.getLogger("odyssai.server")


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


_HTTP_KINDS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error",
               413: "invalid_request_error", 415: "invalid_request_error", 422: "invalid_request_error",
               429: "rate_limit_error", 503: "service_unavailable"}


def _on_odyssai_error(request: Request, exc: OdyssaiError) -> Response:
    headers = {}
    if isinstance(exc, Unavailable):
        headers["Retry-After"] = str(exc.retry_after)
    return Response(error_body(str(exc), exc.kind, exc.param, exc.code), status_code=exc.status,
                    headers=headers)


_TYPE_TAG = re.compile(r"^(str|int|float|bool|none|dict|list|function-\w+|[a-z-]+\[.*\])$")


def _field_path(key: Any) -> str | None:
    """``messages.0.content.str`` -> ``messages.0.content``: pydantic names the union member it
    tried in the error's location; the client wants the field."""
    if not key or not isinstance(key, str):
        return None
    parts = [p for p in key.split(".") if not _TYPE_TAG.match(p)]
    return ".".join(parts) or None


def _on_http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    message = exc.detail or "error"
    param = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        first = exc.extra[0]
        if isinstance(first, dict):
            param = _field_path(first.get("key"))
            detail = first.get("message", "")
            message = f"{message}: {param + ': ' if param else ''}{detail}".rstrip(": ")
    if status == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    return Response(error_body(message, _HTTP_KINDS.get(status, "invalid_request_error"), param),
                    status_code=status, headers=getattr(exc, "headers", None) or {})


def _on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(error_body(f"internal error: {type(exc).__name__}: {exc}", "server_error"),
                    status_code=HTTP_500_INTERNAL_SERVER_ERROR)


def api_key_guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Require the configured API key unless the handler is marked public."""
    settings = connection.app.state.settings
    if settings.api_key is None or handler.opt.get("public"):
        return
    expected = settings.api_key.get_secret_value()
    auth = connection.headers.get("authorization", "")
    given = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    if not given:
        given = connection.headers.get("x-api-key", "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthorizedException("a valid API key is required: send 'Authorization: Bearer <key>'")


@get("/healthz", opt={"public": True}, sync_to_thread=False)
def healthz(request: Request) -> dict[str, Any]:
    manager = request.app.state.manager
    return {"status": "ok", "version": __version__,
            "clusters": {name: c.phase for name, c in manager.clusters.items()}}


def create_app(settings: Any, pm: Any, manager: Any = None) -> Litestar:
    """Build the app. ``manager`` defaults to a new ``ClusterManager`` shut down with the app."""
    from .cluster import ClusterManager

    own_manager = manager is None
    manager = manager or ClusterManager(settings, pm)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if own_manager:
                await manager.shutdown()

    return _build(settings, pm, manager, lifespan)


def _build(settings: Any, pm: Any, manager: Any, lifespan: Any) -> Litestar:
    from litestar.datastructures import State

    return Litestar(
        route_handlers=[healthz],
        # strict: a JSON body's wrong type is a 400, never quietly coerced ("0.5" is no number)
        plugins=[PydanticPlugin(validate_strict=True), *pm.litestar_plugins()],
        guards=[api_key_guard],
        exception_handlers={OdyssaiError: _on_odyssai_error, HTTPException: _on_http_error,
                            Exception: _on_unexpected},
        openapi_config=OpenAPIConfig(title="OdyssAI-X", version=__version__, path="/schema"),
        lifespan=[lifespan],
        state=State({"settings": settings, "manager": manager, "plugins": pm,
                     "closing": asyncio.Event()}),  # set at shutdown: long streams end then
        logging_config=LoggingConfig(configure_root_logger=False, log_exceptions="never"),
        debug=False,
    )


def uvicorn_server(app: Litestar, settings: Any, log_level: str | None = None) -> Any:
    """A uvicorn server for ``app`` that, on Ctrl-C/SIGTERM, first ends long-lived streams."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.closing.set()
            super().handle_exit(sig, frame)

    return Server(uvicorn.Config(app, host=settings.host, port=settings.port,
                                 log_level=log_level or settings.log_level, timeout_graceful_shutdown=5))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_key_when_exposed(settings: Any, allow_no_key: bool = False) -> None:
    """Refuse to serve beyond loopback without an API key: whoever reaches the port could load
    models and reboot nodes. ``allow_no_key`` (``--insecure-no-key``) serves anyway, warning."""
    if is_loopback(settings.host) or settings.api_key is not None:
        return
    if not allow_no_key:
        raise OdyssaiError(f"refusing to serve on {settings.host} without an API key: anyone who can "
                           "reach it could load models and reboot nodes",
                           hint="set ODYSSAI_API_KEY (clients send 'Authorization: Bearer <key>'), "
                                "or pass --insecure-no-key")
    log.warning("serving on %s without an API key: anyone who can reach it can use it", settings.host)


def run_server(settings: Any, pm: Any, *, allow_no_key: bool = False) -> None:
    """Serve until Ctrl-C; every cluster started by this server is torn down on exit."""
    require_key_when_exposed(settings, allow_no_key)
    uvicorn_server(create_app(settings, pm), settings).run()
