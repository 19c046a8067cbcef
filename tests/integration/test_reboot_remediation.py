"""The JACCL queue-pair quirk, healed: a failed load classified as 'reboot', Reboot all, reload.

JACCL cannot run on Linux, so the failing load is fault injection, named as such: the load
request makes each rank fail where its backend's init fails, with the texts recorded upstream
for this quirk — rank 1 "errno 16" while creating a queue pair, rank 0 the stale "errno=2" of
its side channel. The transport's root-cause choice must point at rank 1's errno 16. The reboot runs each node's real
``reboot_command`` over SSH (the testbed's reboot), waits for sshd, and reloads — over the ring
transport, since jaccl cannot carry the reload here.
"""

from __future__ import annotations

import subprocess

import pytest

from odyssai.topology import load_topology, save_clusters
from support.nodes import wait_no_runners
from support.server import Server
from support.tinymodels import build_llama

pytestmark = [pytest.mark.testbed, pytest.mark.slow]
ERRNO_16 = ("RuntimeError: [jaccl] Creating the queue pair failed with errno 16. "
            "Thunderbolt RDMA devices allow a limited number of queue pairs")
STALE_ERRNO_2 = "RuntimeError: [jaccl] Recv failed with errno=2"


@pytest.fixture
def jaccl_testbed(testbed_factory, tmp_path):
    tb = testbed_factory(2)
    for node in tb.node_names:
        build_llama(tb.node_dir(node) / "models", "tiny-llama")
    tb.write_topology(tmp_path / "topology.yaml", "studio", backend="jaccl", reboot_delay=0.5)  # fast: the held SSH session still sees it go down
    return tb


def test_an_errno_16_load_fails_with_remedy_reboot_and_reboot_all_brings_the_cluster_back(jaccl_testbed, tmp_path):
    tb = jaccl_testbed
    srv = Server(tmp_path, env={"ODYSSAI_LOG_LEVEL": "info"})
    try:
        r = srv.http.post("/admin/studio/load", params={"wait": "true"}, json={
            "model": "tiny-llama", "fault_injection": [{"rank": 0, "load_error": STALE_ERRNO_2},
                                                   {"rank": 1, "load_error": ERRNO_16}]})
        assert r.status_code == 502, r.text
        status = srv.status("studio")
        assert status["phase"] == "failed", status
        assert status["error"].get("action") == "reboot", status["error"]
        assert status["error"]["action"] == "reboot" and status["error"]["errno"] == 16
        assert status["error"]["node"] == "node2" and "reboot" in status["error"]["remedy"].lower()
        assert wait_no_runners(tb) == {}

        # something long-running on each node, which a reboot must kill
        sleepers = [subprocess.Popen(tb.ssh_argv(n, "sleep", "600"), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL) for n in tb.node_names]
        use_ring(tmp_path)

        r = srv.http.post("/admin/studio/reboot", json={})
        assert r.status_code == 200, r.text
        report = r.json()["reboot"]
        assert report["ok"], report
        assert {n["node"] for n in report["nodes"]} == {"node1", "node2"}
        assert all(n["back_s"] >= n["down_s"] >= 0 for n in report["nodes"])
        assert report["reload_s"] is not None and report["total_s"] >= report["reload_s"]
        for p in sleepers:
            assert p.wait(30) != 0   # the SSH session died with its node
        status = srv.status("studio")
        assert status["phase"] == "idle" and status["model"] == "tiny-llama"
        reply = srv.openai().completions.create(model="tiny-llama", prompt="Hello", max_tokens=4)
        assert reply.usage.completion_tokens >= 1
        assert srv.http.post("/admin/studio/unload").json()["phase"] == "unloaded"
        assert wait_no_runners(tb) == {}
    finally:
        srv.stop()


def use_ring(home) -> None:
    """Switch the testbed cluster to ring: jaccl cannot carry a load on Linux."""
    path = home / "topology.yaml"
    save_clusters(path, {"studio": load_topology(path).cluster("studio").model_copy(update={"backend": "ring"})})


def serving_over_ring(home) -> Server:
    use_ring(home)
    srv = Server(home)
    r = srv.http.post("/admin/studio/load", params={"wait": "true"}, json={"model": "tiny-llama"})
    if r.status_code != 200:
        srv.stop()
        raise AssertionError(r.text)
    return srv


def test_reboot_is_refused_while_the_cluster_is_generating(jaccl_testbed, tmp_path):
    tb = jaccl_testbed
    srv = serving_over_ring(tmp_path)
    try:
        stream = srv.openai().completions.create(model="tiny-llama", prompt="Hi", max_tokens=400, stream=True)
        next(iter(stream))
        r = srv.http.post("/admin/studio/reboot", json={})
        assert r.status_code == 409 and "generating" in r.json()["error"]["message"]
        stream.close()
    finally:
        srv.stop()
    assert wait_no_runners(tb) == {}


def test_a_jaccl_cluster_without_the_jaccl_package_says_what_to_install(jaccl_testbed, tmp_path):
    srv = Server(tmp_path, env={"ODYSSAI_DISABLE_PLUGINS": "transport_jaccl"})
    try:
        r = srv.http.post("/admin/studio/load", json={"model": "tiny-llama"})
        assert r.status_code == 400
        assert "transport 'jaccl' is not installed (pip install odyssai-transport-jaccl)" in r.json()["error"]["message"]
    finally:
        srv.stop()


def test_the_reboot_command_reboots_every_node_and_reloads(jaccl_testbed, tmp_path):
    from support.dists import run_odyssai

    tb = jaccl_testbed
    srv = serving_over_ring(tmp_path)
    try:
        pids_before = {n: set(tb.pids(n)) for n in tb.node_names}
        r = run_odyssai("reboot", "studio", "--yes", "--server", srv.url, env={"ODYSSAI_HOME": str(tmp_path)},
                        timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "node1: down after" in r.stdout and "node2: down after" in r.stdout and "reloaded tiny-llama" in r.stdout
        for n in tb.node_names:
            assert not (pids_before[n] & set(tb.pids(n))), f"a process on {n} survived its reboot"
        assert srv.status("studio")["phase"] == "idle"
    finally:
        srv.stop()
    assert wait_no_runners(tb) == {}


TEST_TRANSPORT = '''
"""A test transport, installed by hand for one test: ring's wiring with jaccl's failure reading,
so a ring cluster on Linux can meet the queue-pair quirk (injected) and heal it."""
from odyssai import hookimpl
from odyssai_transport_jaccl.failures import classify, root_cause
from odyssai_transport_ring.ring import RingTransport


class RingWithJacclFailures(RingTransport):
    name = "ring-jaccl-failures"

    def classify(self, text, *, rank=None, node=None):
        return classify(text, rank=rank, node=node)

    def root_cause(self, failures):
        return root_cause(failures)


@hookimpl
def odyssai_register_transports(register):
    register(RingWithJacclFailures())
'''


def test_automatic_remediation_reboots_the_failed_node_and_reloads_by_itself(jaccl_testbed, tmp_path):
    import time

    from support.dists import install_dist

    tb = jaccl_testbed
    site = tmp_path / "site"
    install_dist(site, "odyssai-test-transport", "test_transport", "odyssai_test_transport", TEST_TRANSPORT)
    path = tmp_path / "topology.yaml"
    spec = load_topology(path).cluster("studio")
    save_clusters(path, {"studio": spec.model_copy(update={"backend": "ring-jaccl-failures", "rdma_to": None})})
    srv = Server(tmp_path, env={"ODYSSAI_AUTO_REMEDIATE": "true", "PYTHONPATH": str(site)})
    try:
        r = srv.http.post("/admin/studio/load", params={"wait": "true"}, json={
            "model": "tiny-llama", "fault_injection": {"rank": 1, "load_error": ERRNO_16}})
        assert r.status_code == 502 and "errno 16" in r.json()["error"]["message"]
        deadline = time.monotonic() + 180
        while True:
            status = srv.status("studio")
            if status["phase"] == "idle" and status.get("reboot"):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.5)
        report = status["reboot"]
        assert report["ok"] and [n["node"] for n in report["nodes"]] == ["node2"]
        assert status["model"] == "tiny-llama"
    finally:
        srv.stop()
    assert wait_no_runners(tb) == {}
