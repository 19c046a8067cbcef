"""Pipeline parallelism on the testbed: a tiny DeepSeek-V3-style model (random weights,
mlx-lm's ``PipelineMixin``) pipelined over 3 and over 2 nodes through the real server, SSH and
ring collectives. Each node holds only the weight files of its own layers, so a rank that read
any other file could not load; the greedy output equals the unsharded model's.

One 3-node testbed serves both cases: cluster 'three' (all nodes) and cluster 'two' (the first
two), each loading its own copy of the model laid out for its plan.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from odyssai.sharding import NodeResources
from odyssai.topology import save_clusters
from odyssai_shard_pipeline.planning import plan_layers
from support.nodes import runner_pids, sub_cluster, wait_no_runners
from support.pipemodels import layer_parameters, node_copy, split_by_layer
from support.reference import greedy
from support.server import Server
from support.tinymodels import build_deepseek_v3

pytestmark = [pytest.mark.testbed, pytest.mark.slow]
LAYERS = 4
PROMPT = "Hello world! How are you today?"


@pytest.fixture(scope="module")
def deepseek(tmp_path_factory):
    """The model, weights one file per layer (embeddings first, norm and head last)."""
    model = build_deepseek_v3(tmp_path_factory.mktemp("reference"), layers=LAYERS, seed=3)
    files = split_by_layer(model)

    def files_of(start: int, end: int) -> list[str]:
        return sorted([files[0], *files[1 + start:1 + end], files[-1]])

    return model, files_of


@pytest.fixture(scope="module")
def testbed3(module_testbed_factory, deepseek):
    """Three nodes; 'dsv3-3' is laid out for 3 ranks on all of them, 'dsv3-2' for 2 ranks on the
    first two — every node holds only its own rank's weight files."""
    model, files_of = deepseek
    tb = module_testbed_factory(3)
    for name, nodes in (("dsv3-3", tb.node_names), ("dsv3-2", tb.node_names[:2])):
        plan = plan_layers(LAYERS, [NodeResources(n) for n in nodes])
        for node, rank in zip(nodes, plan.ranks):
            node_copy(model.path, tb.node_dir(node) / "models", files_of(*rank["layers"]), name=name)
    return tb


@pytest.fixture(scope="module")
def server(testbed3, tmp_path_factory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("home")
    names = testbed3.node_names
    save_clusters(home / "topology.yaml", {"three": sub_cluster(testbed3, names),
                                           "two": sub_cluster(testbed3, names[:2])})
    srv = Server(home)
    try:
        yield srv
    finally:
        srv.stop()
        left = wait_no_runners(testbed3)
        assert not left, f"runners left behind: {left}"


@pytest.mark.parametrize("cluster, model, n", [("three", "dsv3-3", 3), ("two", "dsv3-2", 2)])
def test_a_deepseek_v3_pipeline_answers_like_the_unsharded_model_and_each_rank_reads_only_its_files(
        server, testbed3, deepseek, cluster, model, n):
    reference, files_of = deepseek
    r = server.http.post(f"/admin/{cluster}/load", params={"wait": "true"}, json={"model": model, "sharding": "pipeline"})
    assert r.status_code == 200, r.text
    status = server.status(cluster)
    plan = status["sharding"]
    assert plan["strategy"] == "pipeline"
    assert plan == plan_layers(LAYERS, [NodeResources(node) for node in testbed3.node_names[:n]]).to_dict()
    per_layer = layer_parameters(reference.path)
    for rank, part in zip(status["ranks"], plan["ranks"]):
        start, end = part["layers"]
        assert rank["history"][:3] == ["starting", "loading", "idle"], rank
        assert rank["files"] == files_of(start, end), rank
        assert rank["parameters"]["layer_parameters"] == sum(per_layer[i] for i in range(start, end))
        assert rank["parameters"]["layer_parameters"] < sum(per_layer.values())

    reply = server.openai().chat.completions.create(model=model, messages=[{"role": "user", "content": PROMPT}],
                                                    max_tokens=10, temperature=0, logprobs=True)
    ref_ids, ref_text = greedy(reference.path, messages=[{"role": "user", "content": PROMPT}], max_tokens=10)
    assert reply.choices[0].message.content == ref_text
    assert len(reply.choices[0].logprobs.content) == len(ref_ids) == reply.usage.completion_tokens == 10

    assert server.http.post(f"/admin/{cluster}/unload").json()["phase"] == "unloaded"
    assert wait_no_runners(testbed3, timeout=10) == {}


def test_a_second_load_while_one_is_in_progress_gets_409_and_starts_nothing(server, testbed3):
    r = server.http.post("/admin/two/load", json={"model": "dsv3-2", "sharding": "pipeline"})
    assert r.status_code == 202 and r.json()["phase"] == "loading", r.text
    again = server.http.post("/admin/two/load", json={"model": "dsv3-2"})
    assert again.status_code == 409, again.text
    assert "two is loading" in again.json()["error"]["message"]
    assert server.wait_phase("two", {"idle", "failed"})["phase"] == "idle"
    names = testbed3.node_names
    assert {n: len(runner_pids(testbed3, n)) for n in names} == {n: int(n in names[:2]) for n in names}
    server.http.post("/admin/two/unload")
    assert wait_no_runners(testbed3, timeout=10) == {}
