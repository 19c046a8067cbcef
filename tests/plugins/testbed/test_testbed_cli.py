"""``odyssai testbed ...``: the commands a person runs to try a cluster without Macs."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from odyssai.topology import load_topology
from odyssai_testbed import Testbed, plugin
from odyssai_testbed.plan import new_id
from odyssai_testbed.registry import find


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """Run ``odyssai testbed ARGS`` in-process, with ``$ODYSSAI_HOME`` in tmp_path."""
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ODYSSAI_TOPOLOGY", raising=False)
    app = typer.Typer()
    plugin.odyssai_cli(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["testbed", *args])


@pytest.fixture
def name():
    """A testbed name no other test (or person) uses; whatever the test leaves up is torn down."""
    name = f"cli-{new_id()}"
    yield name
    with contextlib.suppress(Exception):
        Testbed.open(name).down()


@pytest.mark.testbed
def test_up_builds_a_testbed_that_stays_up_and_writes_the_configured_topology(cli, name, tmp_path):
    result = cli("up", "--nodes", "2", "--name", name)
    assert result.exit_code == 0, result.output
    assert find(name=name).persistent
    assert Testbed.open(name).ssh_answers("node2")
    cluster = load_topology(tmp_path / "home" / "topology.yaml").cluster("testbed")
    assert [n.name for n in cluster.nodes] == ["node1", "node2"]


@pytest.mark.testbed
def test_down_tears_the_testbed_down_and_removes_its_cluster(cli, name, tmp_path):
    assert cli("up", "--nodes", "1", "--name", name).exit_code == 0
    result = cli("down", "--name", name)
    assert result.exit_code == 0, result.output
    assert find(name=name) is None
    assert load_topology(tmp_path / "home" / "topology.yaml").clusters == {}


@pytest.mark.testbed
def test_status_shows_a_pulled_cable_and_a_fresh_node(cli, name):
    assert cli("up", "--nodes", "3", "--name", name, "--no-topology").exit_code == 0
    assert cli("cable", "pull", "node1", "node2", "--name", name).exit_code == 0
    assert cli("fresh", "node3", "--name", name).exit_code == 0
    status = json.loads(cli("status", "--name", name, "--json").output)["testbeds"][0]
    cable = next(c for c in status["cables"] if {c["node_a"], c["node_b"]} == {"node1", "node2"})
    assert (cable["up_a"], cable["up_b"]) == (False, False)
    assert [n["fresh"] for n in status["nodes"]] == [False, False, True]


@pytest.mark.testbed
def test_up_with_listed_cables_wires_only_those(cli, name):
    assert cli("up", "--nodes", "3", "--name", name, "--no-topology", "--cable", "node1,node2",
               "--cable", "node2:en5,node3:en2").exit_code == 0
    assert [str(c) for c in Testbed.open(name).cables] == ["node1:en2<->node2:en2", "node2:en5<->node3:en2"]


@pytest.mark.testbed
def test_reboot_waits_until_the_nodes_sshd_answers_again(cli, name):
    assert cli("up", "--nodes", "1", "--name", name, "--no-topology").exit_code == 0
    result = cli("reboot", "node1", "--name", name, "--delay", "0.3")
    assert result.exit_code == 0 and "node1 rebooted" in result.output
    assert Testbed.open(name).ssh_answers("node1")


@pytest.mark.testbed
def test_a_testbed_made_by_one_process_is_seen_and_removed_by_later_ones(tmp_path, name):
    env = {**os.environ, "ODYSSAI_HOME": str(tmp_path / "home")}
    odyssai = [sys.executable, "-m", "odyssai.cli", "testbed"]

    def run(*args):
        return subprocess.run([*odyssai, *args, "--name", name], env=env, capture_output=True, text=True,
                              timeout=120)

    assert run("up", "--nodes", "2", "--no-topology").returncode == 0
    status = json.loads(run("status", "--json").stdout)["testbeds"][0]
    assert [n["sshd"] for n in status["nodes"]] == [True, True]
    assert run("down").returncode == 0
    assert find(name=name) is None


def test_a_command_on_a_testbed_that_is_not_up_fails_with_one_line(cli):
    result = cli("down", "--name", "no-such-testbed")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["error: testbed 'no-such-testbed' is not up (odyssai testbed up)"]


def test_the_odyssai_command_offers_the_testbed_commands():
    from odyssai.cli import build_app

    result = CliRunner().invoke(build_app(), ["testbed", "--help"])
    assert result.exit_code == 0
    for command in ("up", "down", "status", "cable", "reboot", "fresh"):
        assert command in result.output
