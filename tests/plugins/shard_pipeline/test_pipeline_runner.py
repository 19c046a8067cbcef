"""The real runner (``python -m odyssai.runner``) serving pipelined models: ranks on the ring
backend, each node holding only its own weight files, answer like the unsharded model."""

from __future__ import annotations

import json

import pytest
from odyssai.protocol import Generate, SamplingParams

from support.pipemodels import node_copy, unsharded_tokens
from support.runnerclient import LocalCluster, RunnerProcess, free_ports
from support.tinymodels import rewrite_config

pytestmark = pytest.mark.slow

PROMPTS = {"a": ("Hello world! How are you today?", 8), "b": ("The quick brown fox", 6)}


@pytest.fixture
def runners(tmp_path):
    started: list[RunnerProcess] = []

    def start(built, plan, **config) -> LocalCluster:
        """One runner per rank; ``config`` changes each node's config.json."""
        hostfile = tmp_path / "hosts.json"
        hostfile.write_text(json.dumps([[f"127.0.0.1:{p}"] for p in free_ports(plan.n_ranks)]))
        for r in range(plan.n_ranks):
            node = tmp_path / f"node{r}"
            copy = node_copy(built.model.path, node, built.files_of(*plan.ranks[r]["layers"]))
            if config:
                rewrite_config(copy, **config)
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


def test_each_rank_reports_exactly_the_parameters_of_its_own_layers(tiny, runners):
    from mlx.utils import tree_flatten
    from mlx_lm.utils import load_model

    built = tiny("deepseek_v3")
    plan = built.plan(2)
    whole, _ = load_model(built.model.path, lazy=True)
    sizes = {name: v.size for name, v in tree_flatten(whole.parameters())}
    shared = sum(n for name, n in sizes.items() if ".layers." not in name)

    def layer_params(start, end):
        return sum(n for name, n in sizes.items()
                   if any(name.startswith(f"model.layers.{i}.") for i in range(start, end)))

    loaded = runners(built, plan).load(built.model.name, "pipeline", plan=plan.to_dict())
    for r, msg in enumerate(loaded):
        start, end = plan.ranks[r]["layers"]
        assert msg.parameters["layer_parameters"] == layer_params(start, end)
        assert msg.parameters["parameters"] == shared + layer_params(start, end)
        assert msg.parameters["bytes"] == 4 * msg.parameters["parameters"]  # float32
    assert sum(m.parameters["layer_parameters"] for m in loaded) == layer_params(0, 4)


@pytest.mark.parametrize("kind, failing_rank", [
    ("llama_3kv", 0),     # this plugin's own pipeline: every layer is wrong, rank 0 says so
    ("deepseek_v3", 1),   # PipelineMixin: only layer 0 is dense (intermediate_size), on rank 1
])
def test_weights_that_do_not_fit_config_json_fail_the_load_naming_rank_tensor_and_shapes(
        tiny, runners, kind, failing_rank):
    built = tiny(kind)
    plan = built.plan(2)
    cluster = runners(built, plan, intermediate_size=80)
    cluster.load(built.model.name, "pipeline", plan=plan.to_dict(), wait=False)
    rank = cluster.runners[failing_rank]
    error = rank.expect("error", timeout=120)
    hidden = built.model.config["hidden_size"]
    assert error.message.startswith(f"rank {failing_rank}: shape mismatch for tensor model.layers."), error.message
    assert ".mlp." in error.message
    assert (f"({hidden}, 128)" in error.message and f"({hidden}, 80)" in error.message
            or f"(128, {hidden})" in error.message and f"(80, {hidden})" in error.message), error.message
    assert rank.wait(30) is not None and "idle" not in rank.phases()
