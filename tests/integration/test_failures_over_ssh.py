"""Loads that fail on a node say which node and which field, clean up, and can be retried."""

from __future__ import annotations


import pytest

from odyssai.topology import save_clusters
from support.server import Server

from support.nodes import sub_cluster, wait_no_runners

pytestmark = [pytest.mark.testbed, pytest.mark.slow]


@pytest.fixture
def home(testbed4, tmp_path):
    names = testbed4.node_names
    good = sub_cluster(testbed4, names[:2])
    bad_python = good.model_copy(deep=True)
    bad_python.nodes[1].python = "/nonexistent/bin/python3"
    unreachable = good.model_copy(deep=True)
    unreachable.nodes[1].port = 2299          # nothing listens there
    wrong_ip = good.model_copy(deep=True)
    wrong_ip.nodes[1].ip = "10.99.99.99"       # SSH works, but no interface of node2 has this address
    save_clusters(tmp_path / "topology.yaml", {"good": good, "badpython": bad_python, "unreachable": unreachable,
                                               "wrongip": wrong_ip})
    return tmp_path


def test_a_wrong_python_path_names_the_node_and_the_field(home, testbed4):
    srv = Server(home)
    try:
        r = srv.http.post("/admin/badpython/load", params={"wait": "true"}, json={"model": "tiny-llama"})
        assert r.status_code == 502, r.text
        err = r.json()["error"]
        assert "node2" in err["message"] and "/nonexistent/bin/python3" in err["message"]
        assert err["param"] == "python"
        assert wait_no_runners(testbed4) == {}
    finally:
        srv.stop()


def test_an_unreachable_node_is_named_and_nothing_is_left_running(home, testbed4):
    srv = Server(home)
    try:
        r = srv.http.post("/admin/unreachable/load", params={"wait": "true"}, json={"model": "tiny-llama"})
        assert r.status_code == 502, r.text
        assert "node2" in r.json()["error"]["message"] and "unreachable" in r.json()["error"]["message"]
        assert wait_no_runners(testbed4) == {}
        r = srv.http.post("/admin/good/load", params={"wait": "true"}, json={"model": "tiny-llama"})
        assert r.status_code == 200
    finally:
        srv.stop()


def test_a_ring_ip_that_is_not_the_nodes_own_is_named_with_the_fix(home, testbed4):
    # a real failure of MLX's ring backend (its bind fails with EADDRNOTAVAIL), not an injected text
    srv = Server(home)
    try:
        r = srv.http.post("/admin/wrongip/load", params={"wait": "true"}, json={"model": "tiny-llama"})
        assert r.status_code == 502, r.text
        assert r.json()["error"]["message"].startswith(
            "cluster wrongip, rank 1 (node node2): node2 has no interface with its configured ring IP"), r.text
        assert "fix the node's 'ip' in topology.yaml" in r.json()["error"]["message"]
        status = srv.status("wrongip")
        assert status["phase"] == "failed" and status["error"]["kind"] == "wrong_ip"
        assert wait_no_runners(testbed4) == {}
    finally:
        srv.stop()


def test_killing_the_server_leaves_no_runner_within_seconds(home, testbed4):
    srv = Server(home)
    r = srv.http.post("/admin/good/load", params={"wait": "true"}, json={"model": "tiny-llama"})
    assert r.status_code == 200, r.text
    assert any(r["pid"] for r in r.json()["ranks"])
    srv.kill()
    assert wait_no_runners(testbed4, timeout=15) == {}


def broken_copy(testbed4, name: str, **config) -> None:
    """``name`` on the first two nodes: tiny-llama's files (symlinked), config.json changed."""
    import json

    for node in testbed4.node_names[:2]:
        path = testbed4.node_dir(node) / "models" / "tiny-llama" / "config.json"
        broken = testbed4.node_dir(node) / "models" / name
        broken.mkdir(exist_ok=True)
        for f in path.parent.iterdir():
            target = broken / f.name
            if not target.exists() and f.name != "config.json":
                target.symlink_to(f)
        (broken / "config.json").write_text(json.dumps({**json.loads(path.read_text()), **config}))


@pytest.mark.parametrize("sharding", ["tensor", "pipeline"])
def test_a_shape_mismatch_names_the_rank_the_tensor_and_both_shapes(home, testbed4, sharding):
    broken_copy(testbed4, "tiny-broken", intermediate_size=96)
    srv = Server(home)
    try:
        r = srv.http.post("/admin/good/load", params={"wait": "true"},
                          json={"model": "tiny-broken", "sharding": sharding})
        assert r.status_code == 502, r.text
        message = r.json()["error"]["message"]
        assert "rank" in message and "shape mismatch" in message and "mlp" in message, message
        assert "96" in message and "128" in message, message
        assert wait_no_runners(testbed4) == {}
    finally:
        srv.stop()


def test_a_model_directory_without_config_json_fails_naming_the_nodes_and_the_error(home, testbed4):
    for node in testbed4.node_names[:2]:
        (testbed4.node_dir(node) / "models" / "tiny-noconfig").mkdir(exist_ok=True)
    srv = Server(home)
    try:
        r = srv.http.post("/admin/good/load", params={"wait": "true"}, json={"model": "tiny-noconfig"})
        assert r.status_code == 502, r.text
        message = r.json()["error"]["message"]
        assert "node1" in message and "node2" in message and "no config.json" in message, message
        assert "PipelineMixin" not in message
        assert wait_no_runners(testbed4) == {}
        assert srv.http.post("/admin/good/load", params={"wait": "true"},
                             json={"model": "tiny-llama"}).status_code == 200
    finally:
        srv.stop()
