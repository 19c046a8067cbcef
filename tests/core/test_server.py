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
