"""Topology → Build and Rebuild on the testbed: real sshd, real veth cables, real IPv6 neighbours."""

from __future__ import annotations


import pytest
import yaml

from odyssai.topology import load_topology
from support.dists import run_odyssai

pytestmark = [pytest.mark.testbed, pytest.mark.slow]
OTHER = {"name": "x", "host": "10.250.0.9"}


def setup_home(tb, tmp_path, cluster="mesh") -> dict:
    path = tmp_path / "topology.yaml"
    tb.write_topology(path, cluster)
    raw = yaml.safe_load(path.read_text())
    raw["clusters"]["other"] = {"backend": "ring", "nodes": [OTHER]}   # a cluster nobody touches
    path.write_text(yaml.safe_dump(raw))
    return {"ODYSSAI_HOME": str(tmp_path)}


def edges(rdma_to: dict) -> set[tuple[str, str, str]]:
    return {(a, b, d) for a, peers in rdma_to.items() for b, d in peers.items()}


@pytest.mark.parametrize("n", [3, 4])
def test_build_writes_exactly_the_cables_that_were_wired(testbed_factory, tmp_path, n):
    tb = testbed_factory(n)
    env = setup_home(tb, tmp_path)
    r = run_odyssai("topology", "build", "mesh", env=env)
    assert r.returncode == 0, r.stderr + r.stdout
    rdma_to = load_topology(tmp_path / "topology.yaml").cluster("mesh").rdma_to
    assert edges(rdma_to) == edges(tb.rdma_to())
    assert len(edges(rdma_to)) == n * (n - 1)
    assert load_topology(tmp_path / "topology.yaml").cluster("other").nodes[0].host == OTHER["host"]


def test_a_missing_cable_fails_validation_naming_the_nodes_and_nothing_is_written(testbed_factory, tmp_path):
    tb = testbed_factory(3, cables=[("node1", "node2"), ("node1", "node3")])
    env = setup_home(tb, tmp_path)
    before = (tmp_path / "topology.yaml").read_text()
    r = run_odyssai("topology", "build", "mesh", env=env)
    assert r.returncode == 1
    assert "missing cable: node2 <-> node3" in r.stderr and "nothing was written" in r.stderr
    assert (tmp_path / "topology.yaml").read_text() == before


def test_a_cable_with_one_end_unplugged_is_named_with_its_ports(testbed_factory, tmp_path):
    tb = testbed_factory(3)
    cable = tb.cable("node2", "node3")
    tb.pull(cable, end="node3")
    env = setup_home(tb, tmp_path)
    r = run_odyssai("topology", "build", "mesh", env=env)
    assert r.returncode == 1
    assert "node2 <-> node3" in r.stderr
    assert f"node3 {cable.port_of('node3')}" in r.stderr or f"node2 {cable.port_of('node2')}" in r.stderr


def test_a_fresh_node_is_reported_not_onboarded_until_its_ports_get_fe80(testbed_factory, tmp_path):
    tb = testbed_factory(3)
    tb.make_fresh("node3")
    env = setup_home(tb, tmp_path)
    r = run_odyssai("topology", "build", "mesh", env=env)
    assert r.returncode == 1
    assert "node3" in r.stderr and "not onboarded" in r.stderr
    assert "run `odyssai node-setup network` at its console" in r.stderr
    tb.make_onboarded("node3")
    r = run_odyssai("topology", "build", "mesh", env=env)
    assert r.returncode == 0, r.stderr


def test_rebuild_after_a_cable_moved_shows_the_diff_rewrites_and_keeps_the_old_file(testbed_factory, tmp_path):
    tb = testbed_factory(3)
    env = setup_home(tb, tmp_path)
    assert run_odyssai("topology", "build", "mesh", env=env).returncode == 0
    path = tmp_path / "topology.yaml"
    raw = yaml.safe_load(path.read_text())
    true_dev = raw["clusters"]["mesh"]["rdma_to"]["node1"]["node2"]
    raw["clusters"]["mesh"]["rdma_to"]["node1"]["node2"] = "rdma_en9"   # where the cable used to be
    path.write_text(yaml.safe_dump(raw))
    stale = path.read_text()
    other_before = raw["clusters"]["other"]

    dry = run_odyssai("topology", "rebuild", "mesh", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert f"~ node1 <-> node2: node1 rdma_en9 -> {true_dev}" in dry.stdout
    assert path.read_text() == stale

    r = run_odyssai("topology", "rebuild", "mesh", "--yes", env=env | {"COLUMNS": "40"})
    assert r.returncode == 0, r.stderr
    assert f"~ node1 <-> node2: node1 rdma_en9 -> {true_dev}" in r.stdout
    assert load_topology(path).cluster("mesh").rdma_to["node1"]["node2"] == true_dev
    backups = sorted(tmp_path.glob("topology.yaml.bak-*"))
    assert any(b.read_text() == stale for b in backups)
    [wrote] = [line for line in r.stdout.splitlines() if line.startswith("wrote ")]   # one line, however narrow
    assert wrote.startswith(f"wrote {path} (backup: {tmp_path}/topology.yaml.bak-") and wrote.endswith(")")
    assert yaml.safe_load(path.read_text())["clusters"]["other"] == other_before


def test_the_build_endpoint_dry_run_returns_the_diff_and_writes_nothing(testbed_factory, tmp_path):
    from support.server import Server

    tb = testbed_factory(3)
    setup_home(tb, tmp_path)
    before = (tmp_path / "topology.yaml").read_text()
    srv = Server(tmp_path)
    try:
        r = srv.http.post("/admin/mesh/topology/rebuild", json={"dry_run": True})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ok"] and not body["written"] and len(body["changes"]) == 3
        assert all(c["change"] == "added" for c in body["changes"])
        assert (tmp_path / "topology.yaml").read_text() == before
        r = srv.http.post("/admin/mesh/topology/build", json={})
        assert r.status_code == 200 and r.json()["written"]
        assert edges(load_topology(tmp_path / "topology.yaml").cluster("mesh").rdma_to) == edges(tb.rdma_to())
        tb.pull(tb.cable("node1", "node2"))
        r = srv.http.post("/admin/mesh/topology/rebuild", json={"dry_run": True})
        assert r.status_code == 422 and "missing cable: node1 <-> node2" in r.json()["error"]["message"]
    finally:
        srv.stop()
