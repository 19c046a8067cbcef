"""Errors a user can meet: typed, one line, and each says what to do next.

The CLI prints ``str(error)`` and exits with ``error.exit_code``; the HTTP layer answers with
``error.status`` and an OpenAI-style body built from ``error.kind`` and ``error.param``.
"""

from __future__ import annotations


class OdyssaiError(Exception):
    """Base of every error meant for a user. ``hint`` is the next step to take."""

    status: int = 400
    kind: str = "invalid_request_error"
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None, param: str | None = None,
                 code: str | None = None):
        self.message = message
        self.hint = hint
        self.param = param
        self.code = code
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(OdyssaiError):
    """A settings file or ``topology.yaml`` is malformed or inconsistent."""

    exit_code = 2


class TopologyError(ConfigError):
    """The topology file cannot be read, or a cluster or node in it is wrong."""


class PluginError(OdyssaiError):
    """Plugins clash: duplicate names, hooks without a spec."""

    status = 500
    kind = "server_error"
    exit_code = 3


class NotFound(OdyssaiError):
    """A cluster, model or node the user named does not exist."""

    status = 404
    kind = "not_found_error"


class Conflict(OdyssaiError):
    """The operation does not fit the current state (e.g. a load while loading)."""

    status = 409
    kind = "conflict_error"


class Unavailable(OdyssaiError):
    """Try again later: a cluster is loading or rebooting. ``retry_after`` is in seconds."""

    status = 503
    kind = "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5, **kw):
        self.retry_after = retry_after
        super().__init__(message, **kw)


class Overloaded(OdyssaiError):
    """The request queue is full."""

    status = 429
    kind = "rate_limit_error"


class Unauthorized(OdyssaiError):
    """A missing or wrong API key."""

    status = 401
    kind = "authentication_error"


class TransportMissing(ConfigError):
    """A cluster names a transport that no installed plugin provides."""


class ShardingRefused(OdyssaiError):
    """No sharding strategy (or not the requested one) accepts the model on this cluster."""

    status = 422


class LoadFailed(OdyssaiError):
    """A load failed on a node: spawn, preflight or inside a runner."""

    status = 502
    kind = "load_failed"
