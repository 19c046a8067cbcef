"""The orchestrator loading a pipelined model on a cluster of local nodes: it inspects, picks
'pipeline', plans by the nodes' memory (topology.yaml's ``memory_bytes``), and serves."""

from __future__ import annotations

import asyncio
import sys

import pytest
import yaml
from odyssai.cluster import ClusterManager
from odyssai.plugins import get_plugin_manager
from odyssai.protocol import Generate, SamplingParams
from odyssai.settings import Settings
from odyssai.sharding import NodeResources
from odyssai_shard_pipeline.planning import plan_layers

from support.pipemodels import node_copy, unsharded_tokens
from support.runnerclient import free_ports

pytestmark = pytest.mark.slow
GiB = 2**30


def serve(tmp_path, built, memories, sharding, prompt, max_tokens):
    """Load ``built`` on local nodes with these memories (each holding only the files of the
    plan we expect), generate once, unload; returns (status after load, token ids)."""
    expected = plan_layers(built.model.config["num_hidden_layers"],
                           [NodeResources(f"n{r}", override_bytes=m) for r, m in enumerate(memories)])
    nodes = []
    for r, memory in enumerate(memories):
        node = tmp_path / f"n{r}"
        node_copy(built.model.path, node, built.files_of(*expected.ranks[r]["layers"]))
        nodes.append({"name": f"n{r}", "host": "localhost", "spawner": "local", "python": sys.executable,
                      "models_dir": str(node), "memory_bytes": memory})
    topology = {"clusters": {"pipe": {"backend": "ring", "nodes": nodes, "port_base": free_ports(1)[0]}}}
    (tmp_path / "topology.yaml").write_text(yaml.safe_dump(topology))

    async def run():
        manager = ClusterManager(Settings(home=tmp_path, topology=tmp_path / "topology.yaml"),
                                 get_plugin_manager())
        try:
            cluster = manager.get("pipe")
            status = await asyncio.wait_for(cluster.load(built.model.name, sharding), 180)
            request = Generate(id="r", prompt=prompt, params=SamplingParams(max_tokens=max_tokens))
            out = [m async for m in cluster.generate(request)]
            return status, [t for m in out if m.type == "tokens" for t in m.token_ids]
        finally:
            await manager.shutdown()

    status, tokens = asyncio.run(run())
    assert status["sharding"] == expected.to_dict()
    return status, tokens


def test_the_bigger_node_gets_more_layers_and_the_cluster_answers_like_one_process(tiny, tmp_path):
    built = tiny("deepseek_v3")
    status, tokens = serve(tmp_path, built, [96 * GiB, 32 * GiB], "pipeline", "Hello world", 6)
    plan = status["sharding"]
    assert [r["layers"] for r in plan["ranks"]] == [[1, 4], [0, 1]]
    assert plan["summary"] == "pipeline: n1 layer 0, n0 layers 1-3 (split by memory: n0 96 GiB, n1 32 GiB)"
    assert [r["files"] for r in status["ranks"]] == [built.files_of(1, 4), built.files_of(0, 1)]
    assert tokens == unsharded_tokens(built.model.path, "Hello world", 6)


def test_a_model_tensor_cannot_split_over_two_nodes_is_pipelined_by_default(tiny, tmp_path):
    pm = get_plugin_manager()
    if pm.shard_strategies.get("tensor") is None:
        pytest.skip("odyssai-shard-tensor is not installed")
    built = tiny("llama_3kv")
    status, tokens = serve(tmp_path, built, [64 * GiB, 64 * GiB], None, "The quick brown fox", 6)
    assert status["sharding"]["strategy"] == "pipeline"
    assert tokens == unsharded_tokens(built.model.path, "The quick brown fox", 6)
