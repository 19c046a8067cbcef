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
def test_cable_move_moves_one_end_and_status_shows_the_new_cable(cli, name):
    assert cli("up", "--nodes", "3", "--name", name, "--no-topology").exit_code == 0
    result = cli("cable", "move", "node1", "node2", "--end", "node2", "--port", "en5", "--name", name)
    assert result.exit_code == 0, result.output
    assert "moved node1:en2<->node2:en2 to node1:en2<->node2:en5" in result.output
    result = cli("cable", "move", "node1", "node3", "--end", "node3", "--to", "node2", "--name", name)
    assert "moved node1:en3<->node3:en2 to node1:en3<->node2:en2" in result.output, result.output
    status = json.loads(cli("status", "--name", name, "--json").output)["testbeds"][0]
    assert [(c["node_a"], c["port_a"], c["node_b"], c["port_b"], c["up_a"], c["up_b"]) for c in status["cables"]] == [
        ("node1", "en2", "node2", "en5", True, True), ("node1", "en3", "node2", "en2", True, True),
        ("node2", "en3", "node3", "en3", True, True)]
    assert status["nodes"][1]["ports"].keys() == {"en2", "en3", "en5"}
    taken = cli("cable", "move", "node2", "node3", "--end", "node2", "--port", "en5", "--name", name)
    assert taken.exit_code == 1 and "port node2:en5 already has a cable: node1:en2<->node2:en5" in taken.output
    assert cli("down", "--name", name).exit_code == 0
    assert find(name=name) is None


@pytest.mark.testbed
def test_cable_one_sided_makes_one_end_deaf_and_status_says_which(cli, name):
    assert cli("up", "--nodes", "2", "--name", name, "--no-topology").exit_code == 0
    result = cli("cable", "one-sided", "node1", "node2", "--deaf", "node2", "--name", name)
    assert result.exit_code == 0, result.output
    [cable] = json.loads(cli("status", "--name", name, "--json").output)["testbeds"][0]["cables"]
    assert (cable["deaf_a"], cable["deaf_b"]) == (False, True)
    assert "one-sided: the node2 end does not see its peer" in cli("status", "--name", name).output
    assert cli("cable", "one-sided", "node1", "node2", "--undo", "--name", name).exit_code == 0
    [cable] = json.loads(cli("status", "--name", name, "--json").output)["testbeds"][0]["cables"]
    assert (cable["deaf_a"], cable["deaf_b"]) == (False, False)
    missing = cli("cable", "one-sided", "node1", "node2", "--name", name)
    assert missing.exit_code == 1 and "--deaf NODE" in missing.output


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
    [line] = result.output.strip().splitlines()
    assert line.startswith("error: no testbed named 'no-such-testbed' is up (")


@pytest.mark.testbed
def test_a_second_down_says_there_is_no_testbed_of_that_name(cli, name):
    assert cli("up", "--nodes", "1", "--name", name, "--no-topology").exit_code == 0
    assert cli("down", "--name", name).exit_code == 0
    again = cli("down", "--name", name)
    assert again.exit_code == 1
    assert again.output.startswith(f"error: no testbed named '{name}' is up (") and len(again.output.splitlines()) == 1


FOREIGN = "clusters:\n  testbed:\n    backend: ring\n    nodes:\n    - name: studio1\n      host: 192.168.1.10\n"


def test_up_never_overwrites_a_cluster_that_is_not_its_own_and_leaves_nothing_behind(cli, name, tmp_path):
    path = tmp_path / "home" / "topology.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(FOREIGN)
    result = cli("up", "--nodes", "1", "--name", name)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {path} already has a cluster 'testbed' that is not this testbed's; it is left as it is "
        "(choose another cluster name (odyssai testbed up --cluster NAME))"]
    assert path.read_text() == FOREIGN
    assert find(name=name) is None
    assert not (tmp_path / "home" / "testbed" / name).exists()  # refused before anything was built


@pytest.mark.testbed
def test_up_with_another_cluster_name_keeps_the_existing_one_and_down_removes_only_its_own(cli, name, tmp_path):
    path = tmp_path / "home" / "topology.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(FOREIGN)
    assert cli("up", "--nodes", "1", "--name", name, "--cluster", "tb").exit_code == 0
    assert set(load_topology(path).clusters) == {"testbed", "tb"}
    assert cli("down", "--name", name).exit_code == 0
    assert load_topology(path).cluster("testbed").nodes[0].host == "192.168.1.10"
    assert set(load_topology(path).clusters) == {"testbed"}


def test_up_refuses_a_backend_that_is_not_an_installed_transport_before_building_anything(cli, name):
    result = cli("up", "--nodes", "1", "--name", name, "--backend", "nosuch")
    assert result.exit_code != 0
    [line] = result.output.strip().splitlines()
    assert "transport 'nosuch' is not installed" in line
    assert find(name=name) is None


@pytest.mark.testbed
def test_status_reports_a_broken_testbed_and_still_lists_the_others(cli, name, tmp_path):
    other = f"{name}-ok"
    try:
        assert cli("up", "--nodes", "1", "--name", name, "--no-topology").exit_code == 0
        assert cli("up", "--nodes", "1", "--name", other, "--no-topology").exit_code == 0
        state_file = tmp_path / "home" / "testbed" / name / "testbed.json"
        state_file.write_text("{")  # half-written
        result = cli("status")
        listed = json.loads(cli("status", "--json").output)["testbeds"]
        assert result.exit_code == 0, result.output
        assert f"testbed '{name}': id " in result.output and "BROKEN" in result.output
        assert f"testbed '{other}': id " in result.output
        broken = next(t for t in listed if t["name"] == name)
        assert "unreadable" in broken["broken"]
        assert next(t for t in listed if t["name"] == other)["nodes"][0]["sshd"]
        assert cli("down", "--name", name).exit_code == 0  # what status tells to do works
        assert find(name=name) is None
    finally:
        with contextlib.suppress(Exception):
            Testbed.open(other).down()


@pytest.mark.testbed
def test_down_all_removes_this_homes_testbeds_and_names_the_others_without_removing_them(
        cli, name, tmp_path, monkeypatch):
    elsewhere = f"{name}-else"
    try:
        monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path / "other-home"))
        assert cli("up", "--nodes", "1", "--name", elsewhere, "--no-topology").exit_code == 0
        monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path / "home"))
        assert cli("up", "--nodes", "1", "--name", name, "--no-topology").exit_code == 0
        result = cli("down", "--all")
        assert result.exit_code == 0, result.output
        assert find(name=name) is None
        assert Testbed.open(elsewhere).ssh_answers("node1")
        assert (f"left testbed '{elsewhere}' up (made from ODYSSAI_HOME {tmp_path / 'other-home'}); "
                f"remove it with: odyssai testbed down --name {elsewhere}") in result.output
    finally:
        with contextlib.suppress(Exception):
            Testbed.open(elsewhere).down()


@pytest.mark.testbed
def test_the_default_name_never_reaches_a_testbed_of_another_home(cli, name, tmp_path, monkeypatch):
    monkeypatch.setattr("odyssai_testbed.testbed.DEFAULT_NAME", name)
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path / "other-home"))
    assert cli("up", "--nodes", "1", "--name", name, "--no-topology").exit_code == 0
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path / "home"))
    refused = cli("fresh", "node1")
    assert refused.exit_code == 1
    assert refused.output.startswith(f"error: the testbed named '{name}' was made from another ODYSSAI_HOME")
    assert not Testbed.open(name).is_fresh("node1")
    assert cli("fresh", "node1", "--name", name).exit_code == 0  # named explicitly: the user means it


def test_status_says_1_process_and_2_processes(capsys):
    from odyssai_testbed.cli import _print_described

    node = {"ip": "10.0.0.1", "sshd": True, "fresh": False, "ports": {}}
    _print_described({"name": "t", "id": "abcd", "subnet": "10.0.0.0/24", "orchestrator_ip": "10.0.0.254",
                      "state_dir": "/s", "cables": [],
                      "nodes": [{**node, "name": "node1", "processes": 1}, {**node, "name": "node2", "processes": 2}]})
    out = capsys.readouterr().out
    assert "1 process;" in out and "2 processes;" in out
