"""The HTTP server: health, schema, plugin routes, JSON errors everywhere, the API key."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from litestar.testing import TestClient

from odyssai.plugins import get_plugin_manager
from odyssai.server import create_app
from odyssai.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "example_plugins" / "example" / "src"))
import odyssai_example  # noqa: E402  (the example plugin, registered in-process here)


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path))
    app = create_app(load_settings(), get_plugin_manager(extra=(odyssai_example,)))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_healthz_answers_ok(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_the_openapi_schema_lists_plugin_routes(client):
    schema = client.get("/schema/openapi.json").json()
    assert "/example/ping" in schema["paths"] and "/admin/{cluster}/load" in schema["paths"]


def test_a_route_added_by_a_plugin_is_served(client):
    assert client.get("/example/ping").json() == {"pong": True}


def test_an_unknown_path_gets_a_json_error(client):
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found_error"


def test_a_failing_handler_gets_a_json_500_without_a_traceback(client):
    r = client.get("/example/boom")
    assert r.status_code == 500
    body = r.json()["error"]
    assert "the example handler failed on purpose" in body["message"] and "Traceback" not in r.text


def test_with_an_api_key_set_requests_without_it_get_401(tmp_path, monkeypatch):
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path))
    monkeypatch.setenv("ODYSSAI_API_KEY", "k-123")
    app = create_app(load_settings(), get_plugin_manager(extra=(odyssai_example,)))
    with TestClient(app) as c:
        assert c.get("/example/ping").status_code == 401
        assert c.get("/example/ping", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/example/ping", headers={"Authorization": "Bearer k-123"}).status_code == 200
        assert c.get("/healthz").status_code == 200
        assert c.get("/admin/clusters").json()["error"]["type"] == "authentication_error"


# -- serving beyond loopback ------------------------------------------------------------------
def _serve(home, *args, **env):
    import os
    import subprocess

    return subprocess.Popen([sys.executable, "-m", "odyssai.cli", "serve", *args], text=True,
                            env={**os.environ, "ODYSSAI_HOME": str(home), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_serving_beyond_loopback_without_an_api_key_is_refused_in_one_line(tmp_path):
    from support.server import free_port

    port = free_port()
    proc = _serve(tmp_path, "--host", "0.0.0.0", "--port", str(port))
    out, errout = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert errout.strip().splitlines() == [
        "error: refusing to serve on 0.0.0.0 without an API key: anyone who can reach it could load models "
        "and reboot nodes (set ODYSSAI_API_KEY (clients send 'Authorization: Bearer <key>'), or pass "
        "--insecure-no-key)"]


@pytest.mark.parametrize("args,env", [(["--insecure-no-key"], {}), ([], {"ODYSSAI_API_KEY": "k3y"})])
def test_beyond_loopback_it_serves_with_a_key_or_when_told_to_serve_without(tmp_path, args, env):
    import time

    import httpx

    from support.server import free_port

    port = free_port()
    proc = _serve(tmp_path, "--host", "0.0.0.0", "--port", str(port), *args, **env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server did not answer")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_loopback_addresses_are_recognised():
    from odyssai.server import is_loopback

    assert all(map(is_loopback, ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"]))
    assert not any(map(is_loopback, ["0.0.0.0", "10.0.0.1", "::", "studio.local"]))
