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


def build_fails_and_writes_nothing(tb, tmp_path) -> str:
    """``topology build mesh`` on ``tb``'s wiring as it is now: it must fail; its stderr."""
    env = setup_home(tb, tmp_path)
    before = (tmp_path / "topology.yaml").read_text()
    r = run_odyssai("topology", "build", "mesh", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "nothing was written" in r.stderr
    assert (tmp_path / "topology.yaml").read_text() == before
    assert not list(tmp_path.glob("topology.yaml.bak-*"))
    return r.stderr


def test_a_cable_seen_from_one_end_only_is_named_with_its_ports(testbed_factory, tmp_path):
    tb = testbed_factory(3)
    cable = tb.cable("node2", "node3")
    tb.one_sided(cable, deaf_end="node3")          # node2 sees node3 as a neighbour, node3 does not see node2
    p2, p3 = cable.port_of("node2"), cable.port_of("node3")
    err = build_fails_and_writes_nothing(tb, tmp_path)
    assert (f"one-sided cable: node2 {p2} sees node3 {p3}, but node3 {p3} does not see node2 {p2}" in err), err
    assert f"one-sided cable: node2 -> node3 (rdma_{p2}) is not seen from node3" in err
    assert "missing cable" not in err


def test_a_cable_pulled_at_one_end_is_a_missing_cable_naming_both_idle_ports(testbed_factory, tmp_path):
    # a veth loses its carrier on both ends when one end goes down, as a Thunderbolt link does
    # when one plug is out: neither port has a link, so the cable is missing, not one-sided
    tb = testbed_factory(3)
    cable = tb.cable("node2", "node3")
    tb.pull(cable, end="node3")
    p2, p3 = cable.port_of("node2"), cable.port_of("node3")
    err = build_fails_and_writes_nothing(tb, tmp_path)
    assert (f"missing cable: node2 <-> node3 (ports without a link: node2 {p2}, node3 {p3}: "
            "is the cable plugged in at both ends?)") in err, err
    assert "one-sided" not in err


def test_a_cable_moved_to_a_third_node_leaves_a_missing_cable_and_nothing_is_written(testbed_factory, tmp_path):
    tb = testbed_factory(3)
    moved = tb.move(tb.cable("node1", "node2"), end="node2", node="node3")    # now node1 <-> node3 twice
    assert (moved.node_a, moved.node_b) == ("node1", "node3")
    err = build_fails_and_writes_nothing(tb, tmp_path)
    assert "missing cable: node1 <-> node2" in err, err
    doubled = sorted(("node1", c.port_of("node1"), "node3", c.port_of("node3"))
                     for c in tb.cables if {c.node_a, c.node_b} == {"node1", "node3"})
    assert len(doubled) == 2
    assert ("(node1 and node3 are joined by 2 cables: "
            + ", ".join(f"{a} {x} <-> {b} {y}" for a, x, b, y in doubled)
            + ": was one of them meant for node2?)") in err, err


def test_a_cable_moved_back_into_its_own_node_is_named_with_both_ports(testbed_factory, tmp_path):
    tb = testbed_factory(3)
    moved = tb.move(tb.cable("node1", "node2"), end="node2", node="node1")    # node1 en2 <-> node1 en4
    assert moved.node_a == moved.node_b == "node1"
    err = build_fails_and_writes_nothing(tb, tmp_path)
    for port in (moved.port_a, moved.port_b):
        assert f"node1 {port} has a link but no neighbour answered" in err, err
    assert "missing cable: node1 <-> node2" in err


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
    built = path.read_text()
    other_before = yaml.safe_load(built)["clusters"]["other"]
    old = tb.cable("node1", "node2")
    new = tb.move(old, end="node2", port="en5")          # node2's plug goes from its old port to en5
    assert (new.port_of("node1"), new.port_of("node2")) == (old.port_of("node1"), "en5")
    change = f"~ node1 <-> node2: node2 rdma_{old.port_of('node2')} -> rdma_en5"

    dry = run_odyssai("topology", "rebuild", "mesh", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert change in dry.stdout
    assert path.read_text() == built

    r = run_odyssai("topology", "rebuild", "mesh", "--yes", env=env | {"COLUMNS": "40"})
    assert r.returncode == 0, r.stderr
    assert change in r.stdout
    assert [line.strip() for line in r.stdout.splitlines() if line.lstrip().startswith(("~", "+", "-"))] == [change]
    rdma_to = load_topology(path).cluster("mesh").rdma_to
    assert rdma_to == tb.rdma_to() and rdma_to["node2"]["node1"] == "rdma_en5"
    assert len(edges(rdma_to)) == 6
    backups = sorted(tmp_path.glob("topology.yaml.bak-*"))
    assert any(b.read_text() == built for b in backups)
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
