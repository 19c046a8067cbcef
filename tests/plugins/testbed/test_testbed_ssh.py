"""Three nodes up: each answers SSH with host-key checking on, and runs commands in its own namespace."""

from __future__ import annotations

import asyncio
import os
import subprocess

import asyncssh
import pytest

from testbed_helpers import ssh

pytestmark = pytest.mark.testbed


def test_ssh_to_each_node_works_with_host_key_checking_on(mesh3):
    for node in mesh3.node_names:
        result = ssh(mesh3, node, "echo", "hello from", node)
        assert (result.returncode, result.stdout) == (0, f"hello from {node}\n"), result.stderr


def test_a_command_over_ssh_runs_inside_that_nodes_network_namespace(mesh3):
    for node in mesh3.node_names:
        ns_of_shell = ssh(mesh3, node, "readlink", "/proc/self/ns/net").stdout.strip()
        ns_of_node = os.readlink(f"/proc/{mesh3.pids(node)[0]}/ns/net")
        assert ns_of_shell == ns_of_node != os.readlink("/proc/self/ns/net")


def test_a_node_sees_only_lo_its_ethernet_and_its_thunderbolt_ports(mesh3):
    for node in mesh3.node_names:
        names = ssh(mesh3, node, "ls", "/sys/class/net").stdout.split()
        assert sorted(names) == sorted(["lo", "en0", *mesh3.ports(node)])


def test_asyncssh_connects_to_each_node_with_the_known_hosts_file(mesh3):
    async def hostname_ip(node):
        async with asyncssh.connect(mesh3.node_ip(node), username="root", known_hosts=str(mesh3.known_hosts),
                                    client_keys=[str(mesh3.identity_file)], connect_timeout=10) as conn:
            result = await conn.run("ip -4 -o addr show dev en0", check=True)
            return result.stdout

    for node in mesh3.node_names:
        assert f"inet {mesh3.node_ip(node)}/24" in asyncio.run(hostname_ip(node))


def test_sftp_writes_a_file_on_a_node(mesh3, tmp_path):
    target = mesh3.node_dir("node2") / "models" / "written-over-sftp.txt"

    async def put():
        async with asyncssh.connect(mesh3.node_ip("node2"), username="root", known_hosts=str(mesh3.known_hosts),
                                    client_keys=[str(mesh3.identity_file)]) as conn:
            async with conn.start_sftp_client() as sftp:
                async with sftp.open(str(target), "w") as f:
                    await f.write("config\n")

    try:
        asyncio.run(put())
        assert target.read_text() == "config\n"
    finally:
        target.unlink(missing_ok=True)


def _known_hosts_with_node2_key_for_node1(tb, path):
    node2_key = tb.known_hosts.read_text().splitlines()[1].split(" ", 1)[1]
    path.write_text(f"{tb.node_ip('node1')} {node2_key}\n")
    return path


def test_ssh_refuses_a_node_whose_host_key_is_not_the_known_one(mesh3, tmp_path):
    wrong = _known_hosts_with_node2_key_for_node1(mesh3, tmp_path / "known_hosts")
    result = subprocess.run(mesh3.ssh_argv("node1", "true", known_hosts=wrong), capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in result.stderr


def test_asyncssh_refuses_a_node_whose_host_key_is_not_the_known_one(mesh3, tmp_path):
    wrong = _known_hosts_with_node2_key_for_node1(mesh3, tmp_path / "known_hosts")

    async def connect():
        async with asyncssh.connect(mesh3.node_ip("node1"), username="root", known_hosts=str(wrong),
                                    client_keys=[str(mesh3.identity_file)], connect_timeout=10):
            pass

    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        asyncio.run(connect())


def test_ssh_refuses_a_node_missing_from_known_hosts(mesh3, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    result = subprocess.run(mesh3.ssh_argv("node1", "true", known_hosts=empty), capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 255 and "Host key verification failed" in result.stderr
