"""Live events, metrics and the CLI's live views against a real server on a 2-node testbed cluster.

``GET /admin/events`` is read by a plain HTTP client; ``/metrics`` is parsed with
prometheus_client; ``odyssai status --watch`` and ``odyssai logs -f`` run as real CLI processes
whose output is a pipe (so ``status --watch`` prints a line per event, which the tests follow
while a load runs) and are stopped with Ctrl-C (SIGINT).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from odyssai.topology import save_clusters
from odyssai.watch import parse_sse
from support.nodes import wait_no_runners
from support.server import Server
from support.tinymodels import build_llama

pytestmark = [pytest.mark.testbed, pytest.mark.slow]
MODEL = "tiny-llama"
CHAT = [{"role": "user", "content": "Count to ten."}]


@pytest.fixture(scope="module")
def testbed2(module_testbed_factory):
    tb = module_testbed_factory(2)
    for node in tb.node_names:
        build_llama(tb.node_dir(node) / "models", MODEL)
    return tb


@pytest.fixture(scope="module")
def server(testbed2, tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("events")
    save_clusters(home / "topology.yaml", {"two": testbed2.cluster()})
    srv = Server(home)
    try:
        yield srv
    finally:
        srv.stop()
        assert wait_no_runners(testbed2) == {}


# -- helpers ------------------------------------------------------------------------------------
class EventClient:
    """A test client of GET /admin/events: connects, reads the hello, then hands out events."""

    def __init__(self, srv: Server, **params: str):
        self.http = httpx.Client(base_url=srv.url, timeout=httpx.Timeout(10, read=120))
        self._cm = self.http.stream("GET", "/admin/events", params=params)
        self.response = self._cm.__enter__()
        self.events = parse_sse(self.response.iter_lines())
        self.hello = next(self.events)

    def until(self, done) -> list[dict[str, Any]]:
        """Events up to and including the first one ``done(event)`` accepts."""
        got = []
        for event in self.events:
            got.append(event)
            if done(event):
                return got
        raise AssertionError(f"stream ended before the awaited event: {got}")

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
        self.http.close()


def metrics(srv: Server) -> dict[str, dict[frozenset, float]]:
    r = srv.http.get("/metrics")
    assert r.status_code == 200, r.text
    out: dict[str, dict[frozenset, float]] = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def sample(m: dict, name: str, **labels: Any) -> float:
    return m.get(name, {}).get(frozenset({k: str(v) for k, v in labels.items()}.items()), 0.0)


def wait_streams(srv: Server, n: int) -> None:
    """Wait until the server counts ``n`` open event streams."""
    deadline = time.monotonic() + 30
    while sample(metrics(srv), "odyssai_admin_event_streams") != n:
        assert time.monotonic() < deadline, f"the server never had {n} open event streams"
        time.sleep(0.1)


def ensure(srv: Server, phase: str) -> None:
    st = srv.status("two")
    if phase == "idle" and st["phase"] != "idle":
        assert srv.http.post("/admin/two/load", params={"wait": "true"}, json={"model": MODEL}).status_code == 200
    if phase == "unloaded" and st["phase"] != "unloaded":
        assert srv.http.post("/admin/two/unload").status_code == 200


class CLI:
    """An ``odyssai`` command running against the server; its stdout read line by line."""

    def __init__(self, srv: Server, *args: str):
        env = dict(os.environ, ODYSSAI_HOME=str(srv.home), COLUMNS="200", NO_COLOR="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "odyssai.cli", *args, "--server", srv.url], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(l) for l in self.proc.stdout], daemon=True).start()

    def wait_line(self, needle: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {needle!r}; stderr: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")
            if needle in line:
                return line

    def lines_until(self, needle: str, timeout: float = 60) -> list[str]:
        """Every line read up to and including the first one with ``needle``."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                got.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no line with {needle!r} in {got}") from None
            if needle in got[-1]:
                return got

    def interrupt(self) -> tuple[int, str, str]:
        """Ctrl-C; the exit status, the rest of stdout and stderr."""
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(30)
        time.sleep(0.1)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return rc, "".join(rest), self.proc.stderr.read()


# -- events -------------------------------------------------------------------------------------
def test_a_client_that_goes_away_is_unsubscribed(server):
    wait_streams(server, 0)
    clients = [EventClient(server), EventClient(server, cluster="two")]
    wait_streams(server, 2)
    for c in clients:
        c.close()
    wait_streams(server, 0)


def test_a_failed_load_streams_the_error_and_counts_it(server):
    before = sample(metrics(server), "odyssai_errors_total", cluster="two", kind="peer_refused")
    events = EventClient(server, cluster="two", types="rank_phase,error,cluster_phase")
    try:
        r = server.http.post("/admin/two/load", json={"model": MODEL, "fault_injection": {
            "rank": 1, "load_error": "RuntimeError: [ring] connection refused (errno 111)"}})
        assert r.status_code == 202, r.text
        got = events.until(lambda e: e["type"] == "cluster_phase" and e["phase"] in {"idle", "failed"})
    finally:
        events.close()
    assert {e["type"] for e in got} == {"rank_phase", "error", "cluster_phase"}
    (error,) = [e for e in got if e["type"] == "error"]
    assert error["error"]["kind"] == "peer_refused" and error["error"]["remedy"]
    assert ("rank_phase", 1, "failed") in [(e["type"], e.get("rank"), e.get("phase")) for e in got]
    assert got[-1]["phase"] == "failed"
    assert sample(metrics(server), "odyssai_errors_total", cluster="two", kind="peer_refused") == before + 1


def test_an_event_client_sees_each_rank_go_starting_loading_idle_in_order(server):
    events = EventClient(server, cluster="two")
    try:
        assert events.hello["type"] == "hello" and [c["cluster"] for c in events.hello["clusters"]] == ["two"]
        r = server.http.post("/admin/two/load", json={"model": MODEL})
        assert r.status_code == 202, r.text
        events.until(lambda e: e["type"] == "cluster_phase" and e["phase"] == "loading")  # (a reload stops old ranks first)
        got = events.until(lambda e: e["type"] == "cluster_phase" and e["phase"] in {"idle", "failed"})
    finally:
        events.close()
    phases = {rank: [e["phase"] for e in got if e["type"] == "rank_phase" and e["rank"] == rank] for rank in (0, 1)}
    assert phases == {0: ["starting", "loading", "idle"], 1: ["starting", "loading", "idle"]}
    assert got[-1]["phase"] == "idle"
    assert [e["seq"] for e in got] == sorted(e["seq"] for e in got)
    kinds = [e["type"] for e in got]
    assert "plan" in kinds and "load_progress" in kinds and "log" in kinds
    first_idle = next(i for i, e in enumerate(got) if e.get("phase") == "idle")
    assert kinds.index("plan") < first_idle


# -- metrics ------------------------------------------------------------------------------------
def test_metrics_counters_move_with_requests_and_gauges_show_the_idle_ranks(server):
    ensure(server, "idle")
    before = metrics(server)
    client = server.openai()
    replies = [client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=n, temperature=0) for n in (4, 6)]
    after = metrics(server)
    labels = {"cluster": "two", "model": MODEL}

    def moved(name: str, **extra: Any) -> float:
        return sample(after, name, **labels, **extra) - sample(before, name, **labels, **extra)

    assert moved("odyssai_requests_total", finish_reason="length") == 2
    assert moved("odyssai_completion_tokens_total") == sum(r.usage.completion_tokens for r in replies) == 10
    assert moved("odyssai_prompt_tokens_total") == sum(r.usage.prompt_tokens for r in replies)
    assert moved("odyssai_request_seconds_count") == 2 and moved("odyssai_time_to_first_token_seconds_count") == 2
    assert moved("odyssai_request_seconds_bucket", le="+Inf") == 2
    deadline = time.monotonic() + 10  # a rank reports idle again just after the reply is sent
    while sample(after, "odyssai_requests_in_flight", cluster="two") or not all(
            sample(after, "odyssai_rank_phase", cluster="two", rank=rank, node=node, phase="idle")
            for rank, node in enumerate(("node1", "node2"))):
        assert time.monotonic() < deadline, "the ranks did not go back to idle"
        time.sleep(0.1)
        after = metrics(server)
    for rank, node in enumerate(("node1", "node2")):
        assert sample(after, "odyssai_rank_phase", cluster="two", rank=rank, node=node, phase="idle") == 1
        assert sample(after, "odyssai_rank_phase", cluster="two", rank=rank, node=node, phase="loading") == 0
    assert sample(after, "odyssai_cluster_phase", cluster="two", phase="idle") == 1
    assert sample(after, "odyssai_requests_in_flight", cluster="two") == 0
    assert sample(after, "odyssai_generation_tokens_per_second", cluster="two") == 0
    assert sample(after, "odyssai_model_loaded", **labels) == 1


# -- the CLI ------------------------------------------------------------------------------------
def test_logs_prints_each_ranks_history(server):
    ensure(server, "idle")
    out = subprocess.run([sys.executable, "-m", "odyssai.cli", "logs", "two", "--rank", "1", "--server", server.url],
                         env=dict(os.environ, ODYSSAI_HOME=str(server.home), COLUMNS="300"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines and all(l.startswith("[rank 1 node2] ") for l in lines)
    assert any("joined the ring group" in l for l in lines)


def test_status_watch_follows_a_load_line_by_line_and_ctrl_c_exits_cleanly(server):
    ensure(server, "unloaded")
    wait_streams(server, 0)
    watch = CLI(server, "status", "two", "--watch")  # stdout is a pipe: a line per event, not a redrawn table
    try:
        before = watch.lines_until("two rank 1 (node2): ")  # the hello: the cluster, then each rank
        wait_streams(server, 1)
        assert server.http.post("/admin/two/load", json={"model": MODEL}).status_code == 202
        seen = watch.lines_until("two: idle", timeout=180)
    finally:
        rc, rest, err = watch.interrupt()
    assert rc == 0, err
    assert "Traceback" not in err and "Traceback" not in rest
    assert "two: unloaded  model=-  backend=ring" in before[0]
    text = [l.split(" ", 1)[1].rstrip("\n") for l in seen]  # without the time stamps
    assert text[-1] == f"two: idle  model={MODEL}  backend=ring"
    loading = text.index(f"two: loading  model={MODEL}  backend=ring")  # the cluster went through loading first
    for rank, node in ((0, "node1"), (1, "node2")):
        mine = [t.split(": ", 1)[1] for t in text[loading:] if t.startswith(f"two rank {rank} ({node}): ")]
        phases = [p.split()[0] for p in mine]
        walked = [p for i, p in enumerate(phases) if i == 0 or phases[i - 1] != p]
        assert walked == ["starting", "loading", "idle"], mine
        progress = [p for p in mine if p.startswith("loading ")]
        assert progress, f"rank {rank} showed no load progress: {mine}"
        done, total = progress[-1].split()[1].split("/")
        assert int(done) == int(total) > 0, progress
    assert any(t.startswith("two: plan ") for t in text[loading:])
    wait_streams(server, 0)


def test_logs_follow_of_one_rank_prints_only_that_ranks_new_lines(server):
    wait_streams(server, 0)
    joined = "joined the ring group"
    old = sum(joined in l["line"] for l in server.http.get("/admin/two/logs", params={"rank": 1}).json()["lines"])
    follow = CLI(server, "logs", "two", "-f", "--rank", "1")
    try:
        wait_streams(server, 1)
        assert server.http.post("/admin/two/load", params={"wait": "true"}, json={"model": MODEL}).status_code == 200
        lines = []
        for _ in range(old + 1):  # the history's, then the new rank 1's
            lines += follow.lines_until(joined)
    finally:
        rc, rest, err = follow.interrupt()
    assert rc == 0 and "Traceback" not in err
    printed = lines + rest.splitlines()
    assert sum(joined in l for l in printed) == old + 1  # rank 0 joined too, but is not shown
    assert all(l.startswith("[rank 1 node2] ") for l in printed), [l for l in printed if not l.startswith("[rank 1 ")]


def test_logs_follow_prints_new_lines_live_until_ctrl_c(server):
    wait_streams(server, 0)
    joined = "joined the ring group"
    old = sum(joined in l["line"] for l in server.http.get("/admin/two/logs").json()["lines"])
    follow = CLI(server, "logs", "two", "-f")
    try:
        wait_streams(server, 1)
        assert server.http.post("/admin/two/load", params={"wait": "true"}, json={"model": MODEL}).status_code == 200
        lines = [follow.wait_line(joined) for _ in range(old + 2)]  # the history's, then one per new rank
    finally:
        rc, _, err = follow.interrupt()
    assert rc == 0 and "Traceback" not in err
    assert {l.split("]")[0] for l in lines[old:]} == {"[rank 0 node1", "[rank 1 node2"}
