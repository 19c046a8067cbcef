"""The reboot remedy's flow, against a fake cluster that scripts what each node does.

``FakeCluster`` stands in for the running cluster the lead's code provides (run_on_node,
wait_ssh, reload, generating, spec); the real one is exercised on the testbed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio
import pytest

from odyssai.discovery import CommandResult
from odyssai.errors import Conflict, NotFound
from odyssai.topology import Cluster, Node
from odyssai_transport_jaccl import RebootRemedy


@dataclass
class FakeNode:
    """How a fake node answers: the reboot command's result, then how long it stays up."""

    reboot: CommandResult | Exception = field(default_factory=lambda: CommandResult(0, "", ""))
    answers_true_times: int = 1     # `true` still succeeds this many times after the reboot
    comes_back: bool = True


class FakeCluster:
    def __init__(self, nodes: dict[str, FakeNode], generating: bool = False, reload_error: str | None = None):
        self.spec = Cluster(backend="jaccl", nodes=[
            Node(name=n, host=f"10.0.0.{i + 1}", reboot_command=f"sudo reboot-{n}") for i, n in enumerate(nodes)])
        self.fake_nodes = nodes
        self.generating = generating
        self.reload_error = reload_error
        self.calls: list[tuple] = []

    async def run_on_node(self, node_name, command, timeout):
        self.calls.append(("run", node_name, command))
        node = self.fake_nodes[node_name]
        if command == "true":
            node.answers_true_times -= 1
            return CommandResult(0 if node.answers_true_times >= 0 else 255, "", "")
        if isinstance(node.reboot, Exception):
            raise node.reboot
        return node.reboot

    async def wait_ssh(self, node_name, timeout):
        self.calls.append(("wait_ssh", node_name))
        if not self.fake_nodes[node_name].comes_back:
            raise TimeoutError(f"no SSH after {timeout}s")
        return True

    async def reload(self):
        self.calls.append(("reload",))
        if self.reload_error:
            raise RuntimeError(self.reload_error)


def perform(cluster, nodes=(), events=None, **kw):
    remedy = RebootRemedy(poll=0.001, tick=0.005, down_timeout=kw.pop("down_timeout", 1.0), **kw)
    progress = events.append if events is not None else None
    return anyio.run(remedy.perform, cluster, list(nodes), progress)


def test_a_cluster_that_is_generating_is_not_rebooted():
    cluster = FakeCluster({"a": FakeNode()}, generating=True)
    with pytest.raises(Conflict, match="generating"):
        perform(cluster)
    assert cluster.calls == []


def test_each_node_is_rebooted_with_its_own_reboot_command():
    cluster = FakeCluster({"a": FakeNode(), "b": FakeNode()})
    perform(cluster)
    assert {c for c in cluster.calls if c[0] == "run" and c[2] != "true"} == {
        ("run", "a", "sudo reboot-a"), ("run", "b", "sudo reboot-b")}


def test_no_nodes_named_means_every_node_of_the_cluster():
    cluster = FakeCluster({"a": FakeNode(), "b": FakeNode()})
    assert [n["node"] for n in perform(cluster)["nodes"]] == ["a", "b"]


def test_only_the_named_nodes_are_rebooted():
    cluster = FakeCluster({"a": FakeNode(), "b": FakeNode()})
    perform(cluster, ["b"])
    assert {c[1] for c in cluster.calls if c[0] == "run"} == {"b"}


def test_an_unknown_node_is_refused_before_anything_is_rebooted():
    cluster = FakeCluster({"a": FakeNode()})
    with pytest.raises(NotFound):
        perform(cluster, ["a", "zz"])
    assert cluster.calls == []


def test_the_cluster_is_reloaded_once_every_node_is_back():
    cluster = FakeCluster({"a": FakeNode(), "b": FakeNode()})
    report = perform(cluster)
    assert report["ok"] and cluster.calls[-1] == ("reload",)


def test_a_node_is_waited_for_only_after_it_stopped_answering():
    cluster = FakeCluster({"a": FakeNode(answers_true_times=3)})
    perform(cluster)
    trues = [i for i, c in enumerate(cluster.calls) if c[2:] == ("true",)]
    assert len(trues) == 4 and cluster.calls.index(("wait_ssh", "a")) > trues[-1]


def test_a_reboot_command_that_cuts_the_session_counts_as_the_node_going_down():
    cluster = FakeCluster({"a": FakeNode(reboot=CommandResult(255, "", "connection lost"))})
    report = perform(cluster)
    assert report["ok"] and ("run", "a", "true") not in cluster.calls


def test_a_reboot_command_that_raises_counts_as_the_node_going_down():
    cluster = FakeCluster({"a": FakeNode(reboot=ConnectionResetError("peer closed"))})
    assert perform(cluster)["ok"]


def test_a_failing_reboot_command_fails_that_node_and_nothing_is_reloaded():
    cluster = FakeCluster({"a": FakeNode(reboot=CommandResult(1, "", "sudo: a password is required"))})
    report = perform(cluster)
    assert not report["ok"] and "sudo: a password is required" in report["nodes"][0]["error"]
    assert ("reload",) not in cluster.calls


def test_a_node_that_never_stops_answering_is_reported_and_not_waited_for():
    cluster = FakeCluster({"a": FakeNode(answers_true_times=10**9)})
    report = perform(cluster, down_timeout=0.05)
    assert "still answering SSH" in report["nodes"][0]["error"] and ("wait_ssh", "a") not in cluster.calls


def test_a_node_that_does_not_come_back_fails_the_reboot_and_skips_the_reload():
    cluster = FakeCluster({"a": FakeNode(), "b": FakeNode(comes_back=False)})
    report = perform(cluster)
    assert not report["ok"] and report["problems"][0].startswith("b: SSH did not answer")
    assert ("reload",) not in cluster.calls


def test_a_failed_reload_is_reported_not_raised():
    cluster = FakeCluster({"a": FakeNode()}, reload_error="shape mismatch")
    report = perform(cluster)
    assert not report["ok"] and "reload failed: shape mismatch" in report["problems"]


def test_the_report_has_timings_for_each_node_and_the_reload():
    report = perform(FakeCluster({"a": FakeNode()}))
    node = report["nodes"][0]
    assert 0 <= node["command_s"] <= node["down_s"] <= node["back_s"] <= report["total_s"]
    assert report["reload_s"] is not None


def test_progress_tells_each_phase_in_order():
    events: list[dict] = []
    perform(FakeCluster({"a": FakeNode()}), events=events)
    phases = [e["phase"] for e in events if e["phase"] != "waiting"]
    assert phases == ["rebooting", "down", "back", "reloading", "done"]


def test_progress_may_be_an_async_callable():
    seen = []

    async def progress(event):
        seen.append(event["phase"])

    anyio.run(RebootRemedy(poll=0.001).perform, FakeCluster({"a": FakeNode()}), [], progress)
    assert seen[-1] == "done"
