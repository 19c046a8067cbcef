"""Fixtures for end-to-end tests: a testbed with tiny models on every node and a real server."""

from __future__ import annotations

from typing import Iterator

import pytest

from odyssai.topology import save_clusters
from support.nodes import sub_cluster, wait_no_runners
from support.server import Server
from support.tinymodels import build_llama, build_qwen3


@pytest.fixture(scope="module")
def testbed4(module_testbed_factory):
    """Four testbed nodes, each with the same tiny models in its models_dir."""
    tb = module_testbed_factory(4)
    for node in tb.node_names:
        models = tb.node_dir(node) / "models"
        build_llama(models, "tiny-llama")            # 8 heads / 4 KV heads
        build_qwen3(models, "tiny-qwen3")
        build_llama(models, "tiny-llama-3kv", heads=6, kv_heads=3, hidden=96, layers=3)
    return tb


@pytest.fixture(scope="module")
def server(testbed4, tmp_path_factory) -> Iterator[Server]:
    """A real ``odyssai serve`` whose topology has clusters 'two', 'four' and 'uneven' on the testbed."""
    home = tmp_path_factory.mktemp("home")
    names = testbed4.node_names
    uneven = sub_cluster(testbed4, names[:2])
    uneven.nodes[0].memory_bytes, uneven.nodes[1].memory_bytes = 32 << 30, 96 << 30
    save_clusters(home / "topology.yaml", {
        "two": sub_cluster(testbed4, names[:2]),
        "four": sub_cluster(testbed4, names[:4]),
        "uneven": uneven,     # node2 has three times node1's memory
    })
    srv = Server(home)
    try:
        yield srv
    finally:
        srv.stop()
        left = wait_no_runners(testbed4)
        assert not left, f"runners left behind: {left}"
