"""The dashboard: one HTML page at ``/`` and its scripts and styles under ``/dashboard/``.

Plain HTML, vanilla JavaScript modules and CSS shipped inside this package — no build step.
These routes are public (the page holds no data); everything the page shows comes from the
admin API, with the API key the page asks for when the server has one.
"""

from __future__ import annotations

from importlib import resources

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

#: the files under static/ that are served, and their media types
FILES = {
    "index.html": "text/html",
    "app.js": "text/javascript",
    "api.js": "text/javascript",
    "cards.js": "text/javascript",
    "topology.js": "text/javascript",
    "dashboard.css": "text/css",
}
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
}


def static_file(name: str) -> bytes:
    """The bytes of a dashboard file (``name`` must be one of ``FILES``)."""
    if name not in FILES:
        raise NotFoundException(f"no dashboard file {name!r}")
    return (resources.files(__package__) / "static" / name).read_bytes()


@get("/", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def index() -> Response[bytes]:
    """The dashboard page."""
    return Response(static_file("index.html"), media_type=FILES["index.html"], headers=HEADERS)


@get("/dashboard/{name:str}", opt={"public": True}, include_in_schema=False, sync_to_thread=False)
def asset(name: FromPath[str]) -> Response[bytes]:
    """A script or stylesheet of the dashboard."""
    return Response(static_file(name), media_type=FILES[name], headers=HEADERS)
