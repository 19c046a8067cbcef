"""The dashboard, topology, models and metrics routes of a real app, in-process (no cluster loaded)."""

from __future__ import annotations

import json

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from odyssai.plugins import get_plugin_manager
from odyssai.server import create_app
from odyssai.settings import load_settings
from odyssai.topology import Cluster, Node, save_clusters

KEY = "s3cret-key"


@pytest.fixture
def home(tmp_path):
    for node, models in (("n1", ["tiny", "org/big"]), ("n2", ["tiny"])):
        for m in models:
            (tmp_path / node / m).mkdir(parents=True)
            (tmp_path / node / m / "config.json").write_text(json.dumps({"model_type": "llama"}))
    local = [Node(name=n, host="localhost", spawner="local", models_dir=str(tmp_path / n)) for n in ("n1", "n2")]
    save_clusters(tmp_path / "topology.yaml", {
        "here": Cluster(nodes=local),
        "lab": Cluster(backend="jaccl", nodes=[Node(name=f"m{i}", host=f"10.0.0.{i}") for i in (1, 2, 3)],
                       rdma_to={"m1": {"m2": "rdma_en3", "m3": "rdma_en4"}, "m2": {"m1": "rdma_en3"}, "m3": {}}),
    })
    return tmp_path


def client_for(home, api_key=None):
    settings = load_settings(home=home, **({"api_key": api_key} if api_key else {}))
    return TestClient(create_app(settings, get_plugin_manager()), raise_server_exceptions=False)


@pytest.fixture
def client(home):
    with client_for(home) as c:
        yield c


@pytest.fixture
def keyed(home):
    with client_for(home, KEY) as c:
        yield c


def test_the_dashboard_page_and_its_files_are_served_from_the_package_with_a_strict_csp(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/dashboard/app.js">' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (("app.js", "text/javascript"), ("api.js", "text/javascript"), ("cards.js", "text/javascript"),
                       ("topology.js", "text/javascript"), ("dashboard.css", "text/css")):
        r = client.get(f"/dashboard/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind), name


def test_only_the_dashboards_own_files_are_served(client):
    for path in ("/dashboard/plugin.py", "/dashboard/..%2Fplugin.py", "/dashboard/index.htm"):
        r = client.get(path)
        assert r.status_code == 404 and "error" in r.json(), path


def test_with_an_api_key_the_page_is_public_but_every_admin_call_and_metrics_need_the_key(keyed):
    assert keyed.get("/").status_code == 200 and keyed.get("/dashboard/app.js").status_code == 200
    calls = [("GET", "/admin/clusters"), ("GET", "/admin/here"), ("GET", "/admin/events"),
             ("GET", "/admin/here/topology"), ("GET", "/admin/here/models"), ("GET", "/metrics"),
             ("POST", "/admin/here/load"), ("POST", "/admin/here/unload"), ("POST", "/admin/here/reboot")]
    for method, path in calls:
        r = keyed.request(method, path, json={"model": "tiny"} if path.endswith("load") else None)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error", path
        r = keyed.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401, path
    auth = {"Authorization": f"Bearer {KEY}"}
    assert keyed.get("/admin/here/topology", headers=auth).status_code == 200
    assert keyed.get("/metrics", headers=auth).status_code == 200


def test_the_key_is_not_taken_from_the_query_string(keyed):
    assert keyed.get("/admin/clusters", params={"key": KEY}).status_code == 401
    assert keyed.get("/admin/events", params={"key": KEY}).status_code == 401


def test_topology_names_the_one_sided_and_missing_cables_of_a_jaccl_cluster(client):
    view = client.get("/admin/lab/topology").json()
    assert [n["name"] for n in view["nodes"]] == ["m1", "m2", "m3"]
    assert {(l["a"], l["b"]): l["state"] for l in view["layout"]["links"]} == {
        ("m1", "m2"): "ok", ("m1", "m3"): "one-sided", ("m2", "m3"): "missing"}
    assert view["mesh"]["problems"] == ["one-sided cable: m1 -> m3 (rdma_en4) is not seen from m3",
                                        "missing cable: m2 <-> m3"]


def test_models_lists_what_every_node_has_and_the_sharding_strategies(client):
    body = client.get("/admin/here/models").json()
    assert body["models"] == ["tiny"]
    assert [(n["node"], n["models"]) for n in body["nodes"]] == [("n1", ["org/big", "tiny"]), ("n2", ["tiny"])]
    assert {"tensor", "pipeline"} <= set(body["strategies"])


def test_unknown_clusters_are_404_on_every_new_route(client):
    for path in ("/admin/nope/topology", "/admin/nope/models", "/admin/events?cluster=nope"):
        r = client.get(path)
        assert r.status_code == 404 and "no cluster 'nope'" in r.json()["error"]["message"], path


def test_metrics_parse_and_show_every_cluster_unloaded(client):
    r = client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    fams = {f.name: f for f in text_string_to_metric_families(r.text)}
    phases = {(s.labels["cluster"], s.labels["phase"]): s.value for s in fams["odyssai_cluster_phase"].samples}
    assert phases[("here", "unloaded")] == 1 and phases[("lab", "unloaded")] == 1
    assert fams["odyssai_requests"].type == "counter"
    assert fams["odyssai_request_seconds"].type == "histogram"
