"""The topology a testbed writes: every node reachable over SSH the way the orchestrator does it."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import pytest

from odyssai.ssh import run_on_node
from odyssai.topology import Cluster, Node, load_topology, save_clusters, validate_mesh

pytestmark = pytest.mark.testbed


def test_the_topology_names_each_node_by_its_address_key_and_known_hosts(mesh3, tmp_path):
    cluster = load_topology(mesh3.write_topology(tmp_path / "topology.yaml")).cluster("testbed")
    assert [n.name for n in cluster.nodes] == mesh3.node_names
    for n in cluster.nodes:
        assert (n.host, str(n.ip), n.port, n.user, n.spawner) == (mesh3.node_ip(n.name), mesh3.node_ip(n.name),
                                                                   22, "root", "ssh")
        assert n.python == sys.executable
        assert Path(n.identity_file) == mesh3.identity_file and Path(n.known_hosts) == mesh3.known_hosts
        assert Path(n.models_dir).is_dir()
        assert shlex.split(n.reboot_command)[1:4] == ["-m", "odyssai_testbed", "reboot-node"]


def test_core_runs_a_command_on_every_node_of_the_written_topology(mesh3, tmp_path):
    cluster = load_topology(mesh3.write_topology(tmp_path / "topology.yaml")).cluster("testbed")

    async def on_all():
        return await asyncio.gather(*(run_on_node(n, ["ip", "-4", "-o", "addr", "show", "dev", "en0"])
                                      for n in cluster.nodes))

    for node, result in zip(cluster.nodes, asyncio.run(on_all())):
        assert result.exit_status == 0 and f"inet {node.ip}/24" in result.stdout


def test_a_jaccl_cluster_gets_the_rdma_matrix_of_its_cables(mesh3, tmp_path):
    cluster = load_topology(mesh3.write_topology(tmp_path / "t.yaml", backend="jaccl")).cluster("testbed")
    assert cluster.backend == "jaccl"
    assert validate_mesh(mesh3.node_names, cluster.rdma_to).ok


def test_down_removes_the_cluster_it_wrote_and_keeps_the_others(testbed_factory, tmp_path):
    path = tmp_path / "topology.yaml"
    save_clusters(path, {"studio": Cluster(nodes=[Node(name="mac1", host="mac1.local")])})
    tb = testbed_factory(1)
    tb.write_topology(path, "tb")
    assert set(load_topology(path).clusters) == {"studio", "tb"}
    tb.down()
    assert set(load_topology(path).clusters) == {"studio"}


def test_a_testbed_never_replaces_a_cluster_that_is_not_its_own(mesh3, testbed_factory, tmp_path):
    from odyssai_testbed import TestbedError

    path = tmp_path / "topology.yaml"
    save_clusters(path, {"studio": Cluster(nodes=[Node(name="mac1", host="mac1.local")])})
    before = path.read_text()
    with pytest.raises(TestbedError, match="already has a cluster 'studio' that is not this testbed's"):
        mesh3.write_topology(path, "studio")
    assert path.read_text() == before
    testbed_factory(1).write_topology(path, "other-testbed")  # another testbed's cluster is not its own either
    with pytest.raises(TestbedError, match="'other-testbed' that is not this testbed's"):
        mesh3.write_topology(path, "other-testbed")


def test_a_testbed_rewrites_its_own_cluster(mesh3, tmp_path):
    path = mesh3.write_topology(tmp_path / "topology.yaml", "tb")
    mesh3.write_topology(path, "tb", backend="jaccl")
    assert load_topology(path).cluster("tb").backend == "jaccl"
