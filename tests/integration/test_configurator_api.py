"""The configurator under /admin/clusters/{cluster}: the same changes over HTTP, refused (409)
while the server's own manager has the cluster loaded, and seen by the manager at once.

The app is core's real ``create_app`` with the installed plugins, in-process (Litestar's
TestClient); ``odyssai_api_admin.plugin`` registers ``ConfiguratorController``. "Loaded" is
made by setting the manager's cluster state to ``idle``/``loading`` by hand (a real load over
SSH is in ``test_configurator_loaded.py``, through the CLI).
"""

from __future__ import annotations

import pytest
import yaml
from litestar.testing import TestClient

from odyssai.plugins import get_plugin_manager
from odyssai.server import create_app
from odyssai.settings import load_settings

BASE = "/admin/clusters"
OTHER = """\
clusters:
  other:
    backend: ring
    port_base: 40000
    nodes:
      - {name: m1, host: 10.9.0.1, user: admin, reboot_command: "sudo reboot"}
"""


def build_app(settings):
    """Core's real app with the installed plugins: odyssai-api-admin mounts the configurator."""
    return create_app(settings, get_plugin_manager())


def test_the_installed_api_admin_plugin_mounts_the_configurator_routes(home):
    app = build_app(load_settings(home=home))
    assert {"PUT", "DELETE"} <= set(app.route_handler_method_map.get(BASE + "/{cluster:str}", {}))


@pytest.fixture
def home(tmp_path):
    (tmp_path / "topology.yaml").write_text(OTHER)
    return tmp_path


@pytest.fixture
def client(home, monkeypatch):
    monkeypatch.setenv("ODYSSAI_HOME", str(home))
    app = build_app(load_settings(home=home))
    with TestClient(app) as c:
        yield c


def clusters(home) -> dict:
    return yaml.safe_load((home / "topology.yaml").read_text())["clusters"]


def create_lab(client):
    r = client.put(f"{BASE}/lab", json={"backend": "ring",
                                        "nodes": ["a=root@10.0.0.1", {"name": "b", "host": "10.0.0.2", "port": 2222}]})
    assert r.status_code == 201, r.text
    return r.json()


def test_create_writes_the_cluster_and_answers_its_spec(client, home):
    body = create_lab(client)
    assert [n["name"] for n in body["spec"]["nodes"]] == ["a", "b"]
    assert clusters(home)["lab"]["nodes"][1] == {"name": "b", "host": "10.0.0.2", "port": 2222}


def test_the_running_server_sees_a_new_node_at_once(client):
    create_lab(client)
    r = client.post(f"{BASE}/lab/nodes", json={"spec": "c=root@10.0.0.3", "python": "/opt/py/bin/python"})
    assert r.status_code == 201, r.text
    assert [rank["node"] for rank in client.get("/admin/lab").json()["ranks"]] == ["a", "b", "c"]


def test_remove_node_set_backend_and_delete_round_trip(client, home):
    create_lab(client)
    assert client.delete(f"{BASE}/lab/nodes/b").status_code == 200
    assert client.put(f"{BASE}/lab/backend", json={"backend": "jaccl"}).json()["warnings"]
    assert clusters(home)["lab"] == {"backend": "jaccl", "nodes": [{"name": "a", "host": "10.0.0.1", "user": "root"}]}
    assert client.delete(f"{BASE}/lab").status_code == 200
    assert set(clusters(home)) == {"other"}


def test_changes_leave_the_other_cluster_exactly_as_it_was(client, home):
    before = clusters(home)["other"]
    create_lab(client)
    client.delete(f"{BASE}/lab/nodes/b")
    client.delete(f"{BASE}/lab")
    assert clusters(home)["other"] == before


@pytest.mark.parametrize("state", ["idle", "loading"])
def test_a_cluster_the_server_has_loaded_is_refused_with_409(client, home, state):
    create_lab(client)
    client.app.state.manager.get("lab").state = state
    before = (home / "topology.yaml").read_bytes()
    r = client.delete(f"{BASE}/lab/nodes/b")
    assert r.status_code == 409 and f"is {state}" in r.json()["error"]["message"]
    assert (home / "topology.yaml").read_bytes() == before


def test_a_hostile_node_name_is_a_400_naming_it(client):
    create_lab(client)
    r = client.post(f"{BASE}/lab/nodes", json={"spec": "c;reboot=root@10.0.0.3"})
    assert r.status_code == 400 and "node name 'c;reboot'" in r.json()["error"]["message"]


def test_a_duplicate_cluster_is_a_409(client):
    create_lab(client)
    r = client.put(f"{BASE}/lab", json={"backend": "ring", "nodes": ["z=10.0.0.9"]})
    assert r.status_code == 409 and "already exists" in r.json()["error"]["message"]


def test_a_backend_no_plugin_provides_says_what_to_install(client):
    create_lab(client)
    r = client.put(f"{BASE}/lab/backend", json={"backend": "carrier-pigeon"})
    assert r.status_code == 400 and "pip install odyssai-transport-carrier-pigeon" in r.json()["error"]["message"]


def test_an_unknown_cluster_is_a_404(client):
    assert client.delete(f"{BASE}/nope").status_code == 404


def test_a_hostile_cluster_name_in_the_path_is_a_400(client):
    r = client.put(f"{BASE}/lab;reboot", json={"backend": "ring", "nodes": ["a=10.0.0.1"]})
    assert r.status_code == 400 and "cluster name 'lab;reboot'" in r.json()["error"]["message"]


def test_the_admin_status_routes_still_answer_beside_the_configurator(client):
    create_lab(client)
    assert client.get("/admin/clusters").status_code == 200 and client.get("/admin/lab").status_code == 200
