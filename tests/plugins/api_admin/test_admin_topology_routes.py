"""POST /admin/<c>/topology/build and .../rebuild in-process, with a fake discovery plugin.

A client reviews a dry run, then sends the write with ``expect`` (the ``rdma_to`` it saw): the
write probes again and, when the wiring moved in between, answers 409 with the new diff and
writes nothing.
"""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from odyssai import hookimpl
from odyssai.discovery import Cable, Discoverer, Probe
from odyssai.plugins import get_plugin_manager
from odyssai.server import create_app
from odyssai.settings import load_settings
from odyssai.topology import load_topology

TOPO = """\
# the lab's Macs -- a comment nobody may lose
clusters:
  lab:
    backend: jaccl   # Thunderbolt 5
    nodes:
      - {name: a, host: 10.0.0.1}
      - {name: b, host: 10.0.0.2}
  other:   # not ours
    nodes: [{name: x, host: 10.0.0.9}]
"""

SHOWN = [("a", "en2", "b", "en2"), ("b", "en2", "a", "en2")]
MOVED = [("a", "en3", "b", "en4"), ("b", "en4", "a", "en3")]
SHOWN_RDMA = {"a": {"b": "rdma_en2"}, "b": {"a": "rdma_en2"}}
MOVED_RDMA = {"a": {"b": "rdma_en3"}, "b": {"a": "rdma_en4"}}


class ScriptedWiring(Discoverer):
    """Probe n finds ``probes[n]`` (the last one once the script runs out); counts its probes."""

    name = "scripted-wiring"

    def __init__(self, *probes: list[tuple[str, str, str, str]]):
        self.probes = list(probes)
        self.count = 0

    async def probe(self, cluster_name, cluster, run):
        cables = self.probes[min(self.count, len(self.probes) - 1)]
        self.count += 1
        return Probe(cables=[Cable(*c) for c in cables])


class FakeDiscoveryPlugin:
    def __init__(self, discoverer: ScriptedWiring):
        self.discoverer = discoverer

    @hookimpl
    def odyssai_register_discoverers(self, register):
        register(self.discoverer)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("ODYSSAI_DISABLE_PLUGINS", "discovery_tb5")  # no real probe over SSH
    (tmp_path / "topology.yaml").write_text(TOPO)
    return tmp_path


def client_with(home, wiring: ScriptedWiring) -> TestClient:
    pm = get_plugin_manager(extra=(FakeDiscoveryPlugin(wiring),))
    assert pm.discoverers.names() == ["scripted-wiring"]
    return TestClient(create_app(load_settings(home=home), pm), raise_server_exceptions=False)


def rdma_to(home) -> dict | None:
    return load_topology(home / "topology.yaml").cluster("lab").rdma_to


@pytest.mark.parametrize("route", ["build", "rebuild"])
def test_a_write_with_the_dry_runs_rdma_to_writes_it_when_the_wiring_did_not_move(home, route):
    wiring = ScriptedWiring(SHOWN)
    with client_with(home, wiring) as client:
        dry = client.post(f"/admin/lab/topology/{route}", json={"dry_run": True})
        assert dry.status_code == 200, dry.text
        seen = dry.json()
        assert seen["rdma_to"] == SHOWN_RDMA and seen["written"] is False
        assert seen["diff"] == ["+ a rdma_en2 <-> b rdma_en2"]
        assert (home / "topology.yaml").read_text() == TOPO

        r = client.post(f"/admin/lab/topology/{route}", json={"expect": seen["rdma_to"]})
        assert r.status_code == 200, r.text
        assert r.json()["written"] is True and r.json()["diff"] == seen["diff"]
        assert r.json()["backup"].startswith(str(home / "topology.yaml.bak-"))
    assert wiring.count == 2
    assert rdma_to(home) == SHOWN_RDMA
    text = (home / "topology.yaml").read_text()
    assert text.startswith("# the lab's Macs -- a comment nobody may lose\n")
    assert "backend: jaccl   # Thunderbolt 5\n" in text and "  other:   # not ours\n" in text


@pytest.mark.parametrize("route", ["build", "rebuild"])
def test_a_write_whose_fresh_probe_differs_from_expect_is_a_409_with_the_new_diff_and_writes_nothing(home, route):
    wiring = ScriptedWiring(SHOWN, MOVED)  # a cable is moved between the dry run and the write
    with client_with(home, wiring) as client:
        seen = client.post(f"/admin/lab/topology/{route}", json={"dry_run": True}).json()
        r = client.post(f"/admin/lab/topology/{route}", json={"expect": seen["rdma_to"]})
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["error"]["type"] == "conflict_error" and body["error"]["code"] == "wiring_changed"
        assert body["error"]["param"] == "expect" and "nothing was written" in body["error"]["message"]
        assert body["written"] is False and body["backup"] is None
        assert body["rdma_to"] == MOVED_RDMA
        assert body["diff"] == ["+ a rdma_en3 <-> b rdma_en4"]
        assert "+ a rdma_en3 <-> b rdma_en4" in body["error"]["message"]
        assert (home / "topology.yaml").read_text() == TOPO
        assert not list(home.glob("topology.yaml.bak-*"))

        # the client reviews the new diff and sends it back: now it is written
        r = client.post(f"/admin/lab/topology/{route}", json={"expect": body["rdma_to"]})
        assert r.status_code == 200, r.text
        assert r.json()["written"] is True
    assert wiring.count == 3
    assert rdma_to(home) == MOVED_RDMA


def test_a_write_without_expect_still_writes_what_the_fresh_probe_finds(home):
    wiring = ScriptedWiring(SHOWN, MOVED)
    with client_with(home, wiring) as client:
        assert client.post("/admin/lab/topology/rebuild", json={"dry_run": True}).status_code == 200
        r = client.post("/admin/lab/topology/rebuild")
        assert r.status_code == 200, r.text
        assert r.json()["written"] is True
    assert rdma_to(home) == MOVED_RDMA


def test_expect_matches_whatever_the_order_and_nodes_without_cables(home):
    wiring = ScriptedWiring(SHOWN)
    with client_with(home, wiring) as client:
        expect = {"b": {"a": "rdma_en2"}, "a": {"b": "rdma_en2"}, "c": {}}
        r = client.post("/admin/lab/topology/rebuild", json={"expect": expect})
        assert r.status_code == 200, r.text
    assert rdma_to(home) == SHOWN_RDMA


def test_an_expect_that_is_not_an_rdma_to_is_a_400_naming_it_and_probes_nothing(home):
    wiring = ScriptedWiring(SHOWN)
    with client_with(home, wiring) as client:
        r = client.post("/admin/lab/topology/rebuild", json={"expect": {"a": "rdma_en2"}})
        assert r.status_code == 400, r.text
        assert (r.json()["error"]["param"] or "").startswith("expect")
    assert wiring.count == 0 and (home / "topology.yaml").read_text() == TOPO


def test_an_invalid_fresh_probe_is_a_422_even_with_expect_and_writes_nothing(home):
    wiring = ScriptedWiring(SHOWN, [SHOWN[0]])  # one end of the cable is pulled
    with client_with(home, wiring) as client:
        seen = client.post("/admin/lab/topology/rebuild", json={"dry_run": True}).json()
        r = client.post("/admin/lab/topology/rebuild", json={"expect": seen["rdma_to"]})
        assert r.status_code == 422 and "one-sided cable" in r.json()["error"]["message"]
    assert (home / "topology.yaml").read_text() == TOPO
