"""Rebooting a node: everything started over SSH dies, and sshd answers again afterwards."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest

from odyssai.ssh import run_on_node
from odyssai.topology import load_topology
from odyssai_testbed.system import cmdline

pytestmark = pytest.mark.testbed


def start_sleeper(tb, node):
    """``sleep 300`` over SSH (the session stays open); returns the client and the remote pid."""
    client = subprocess.Popen(tb.ssh_argv(node, "sleep", "300"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for pid in tb.pids(node):
            if cmdline(pid) == "sleep 300":
                return client, pid
        time.sleep(0.05)
    client.kill()
    raise AssertionError(f"sleep 300 did not start on {node}")


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return gone(pid)


def test_a_reboot_kills_a_long_running_process_started_over_ssh(testbed_factory):
    tb = testbed_factory(1)
    client, pid = start_sleeper(tb, "node1")
    tb.reboot("node1", delay=0.5)
    assert gone(pid)
    assert client.wait(timeout=10) == 255  # the SSH connection dropped, as on a real reboot


def test_a_rebooted_nodes_sshd_is_down_then_answers_again(testbed_factory):
    tb = testbed_factory(1)
    tb.reboot("node1", delay=0.5)
    assert not tb.ssh_answers("node1")
    tb.wait_ssh("node1", timeout=10)
    result = subprocess.run(tb.ssh_argv("node1", "echo", "back"), capture_output=True, text=True, timeout=30)
    assert result.stdout == "back\n"


def test_the_topologys_reboot_command_run_over_ssh_reboots_the_node(testbed_factory, tmp_path):
    tb = testbed_factory(1)
    node = load_topology(tb.write_topology(tmp_path / "topology.yaml")).cluster("testbed").node("node1")
    _, pid = start_sleeper(tb, "node1")

    answer = asyncio.run(run_on_node(node, node.reboot_command, timeout=30))

    assert answer.exit_status == 0, answer.stderr
    assert wait_gone(pid, timeout=10)
    tb.wait_ssh("node1", timeout=15)
    assert asyncio.run(run_on_node(node, ["echo", "back"])).stdout == "back\n"


def test_a_reboot_leaves_the_nodes_cables_as_they_were(testbed_factory):
    tb = testbed_factory(2)
    before = {p: tb.link_local("node1", p) for p in tb.ports("node1")}
    tb.reboot("node1", delay=0.2)
    tb.wait_ssh("node1", timeout=10)
    assert {p: tb.link_local("node1", p) for p in tb.ports("node1")} == before


def test_a_testbed_torn_down_while_a_node_reboots_stays_down(testbed_factory):
    tb = testbed_factory(1)
    state_dir = tb.state_dir
    tb.reboot("node1", delay=0.5)
    tb.down()
    time.sleep(1.0)  # past the moment the reboot would have restarted sshd
    assert not [line for line in subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
                .splitlines() if str(state_dir) in line and "ps -eo" not in line]
