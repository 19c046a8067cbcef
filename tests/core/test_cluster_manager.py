"""The ClusterManager follows topology.yaml, and keeps the clusters it was given directly."""

from __future__ import annotations

from odyssai.cluster import ClusterManager
from odyssai.plugins import get_plugin_manager
from odyssai.settings import load_settings
from odyssai.topology import Cluster, Node, save_clusters


def manager(tmp_path) -> ClusterManager:
    return ClusterManager(load_settings(home=tmp_path), get_plugin_manager(entry_points=False))


def test_a_cluster_deleted_from_the_file_is_forgotten_even_after_it_failed(tmp_path):
    save_clusters(tmp_path / "topology.yaml", {"lab": Cluster(nodes=[Node(name="a", host="10.0.0.1")])})
    m = manager(tmp_path)
    m.clusters["lab"].state = "failed"
    save_clusters(tmp_path / "topology.yaml", {"lab": None})
    m.refresh()
    assert "lab" not in m.clusters


def test_a_cluster_added_directly_survives_a_refresh(tmp_path):
    m = manager(tmp_path)
    m.add("demo", Cluster(nodes=[Node(name="local0", host="localhost", spawner="local")]))
    m.refresh()
    assert "demo" in m.clusters
