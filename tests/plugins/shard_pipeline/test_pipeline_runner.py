"""The real runner (``python -m odyssai.runner``) serving pipelined models: ranks on the ring
backend, each node holding only its own weight files, answer like the unsharded model."""

from __future__ import annotations

import json

import pytest
from odyssai.protocol import Generate, SamplingParams

from support.pipemodels import node_copy, unsharded_tokens
from support.runnerclient import LocalCluster, RunnerProcess, free_ports

pytestmark = pytest.mark.slow

PROMPTS = {"a": ("Hello world! How are you today?", 8), "b": ("The quick brown fox", 6)}


@pytest.fixture
def runners(tmp_path):
    started: list[RunnerProcess] = []

    def start(built, plan) -> LocalCluster:
        hostfile = tmp_path / "hosts.json"
        hostfile.write_text(json.dumps([[f"127.0.0.1:{p}"] for p in free_ports(plan.n_ranks)]))
        for r in range(plan.n_ranks):
            node = tmp_path / f"node{r}"
            node_copy(built.model.path, node, built.files_of(*plan.ranks[r]["layers"]))
            started.append(RunnerProcess(r, plan.n_ranks, node, tmp_path, hostfile))
        return LocalCluster(started)

    yield start
    for r in started:
        r.kill()


@pytest.mark.parametrize("kind, n_ranks", [("llama_3kv", 2), ("deepseek_v3", 3)])
def test_the_runner_serves_a_pipelined_model_like_the_unsharded_one(tiny, runners, kind, n_ranks):
    built = tiny(kind)
    plan = built.plan(n_ranks)
    cluster = runners(built, plan)
    loaded = cluster.load(built.model.name, "pipeline", plan=plan.to_dict())
    assert [m.files for m in loaded] == [built.files_of(*r["layers"]) for r in plan.ranks]
    for id, (prompt, n) in PROMPTS.items():  # both at once: a batch of two on every rank
        cluster.rank0.send(Generate(id=id, prompt=prompt, params=SamplingParams(max_tokens=n)))
    for id, (prompt, n) in PROMPTS.items():
        assert cluster.rank0.completion(id).token_ids == unsharded_tokens(built.model.path, prompt, n)
    assert cluster.shutdown() == [0] * n_ranks
