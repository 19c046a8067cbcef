"""The real server as a subprocess (``odyssai serve``), for tests that talk HTTP to it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``odyssai serve`` on 127.0.0.1 with its own ODYSSAI_HOME; ``stop()`` or ``kill()`` it."""

    def __init__(self, home: Path, env: dict[str, str] | None = None, api_key: str | None = None):
        self.home = Path(home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_key = api_key
        e = dict(os.environ)
        e.update({"ODYSSAI_HOME": str(self.home), "ODYSSAI_PORT": str(self.port),
                  "ODYSSAI_HOST": "127.0.0.1", "ODYSSAI_ALLOW_FAULT_INJECTION": "1",
                  "ODYSSAI_LOG_LEVEL": "warning"})
        if api_key:
            e["ODYSSAI_API_KEY"] = api_key
        e.update(env or {})
        self.log = open(self.home / "server.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "odyssai.cli", "serve"], env=e,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.url, timeout=120, headers=headers)
        self._wait_up()

    def _wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_text()}")
            try:
                if self.http.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not come up: " + self.log_text())

    def log_text(self) -> str:
        self.log.flush()
        return (self.home / "server.log").read_text(errors="replace")[-4000:]

    def status(self, cluster: str) -> dict[str, Any]:
        return self.http.get(f"/admin/{cluster}").json()

    def wait_phase(self, cluster: str, phases: set[str], timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(cluster)
            if st.get("phase") in phases:
                return st
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster {cluster} stayed {st.get('phase')}: {st}")
            time.sleep(0.1)

    def openai(self):
        import openai

        return openai.OpenAI(base_url=self.url + "/v1", api_key=self.api_key or "none", max_retries=0,
                             timeout=300)

    def stop(self, timeout: float = 30) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.http.close()
        self.log.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
