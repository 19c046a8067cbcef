"""A small HTTP client of the server, used by the CLI's ``load``, ``unload`` and ``status``.

The server owns the runners; the CLI only asks it. Error bodies come back as ``OdyssaiError``
with the server's one-line message.
"""

from __future__ import annotations

from typing import Any

import httpx

from .errors import OdyssaiError


class ServerClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 30.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Any, url: str | None = None) -> "ServerClient":
        host = settings.host if settings.host not in {"0.0.0.0", "::"} else "127.0.0.1"
        key = settings.api_key.get_secret_value() if settings.api_key else None
        return cls(url or f"http://{host}:{settings.port}", key)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.ConnectError:
            raise OdyssaiError(f"no OdyssAI-X server answers at {self.base_url}",
                               hint="start it with `odyssai serve` (or pass --server URL)") from None
        except httpx.TimeoutException:
            raise OdyssaiError(f"the server at {self.base_url} did not answer in time") from None
        try:
            body = r.json()
        except ValueError:
            body = {"error": {"message": r.text[:200]}}
        if r.status_code >= 400:
            err = body.get("error", {}) if isinstance(body, dict) else {}
            e = OdyssaiError(err.get("message") or f"HTTP {r.status_code}", param=err.get("param"))
            e.status = r.status_code
            raise e
        return body

    def close(self) -> None:
        self.http.close()
