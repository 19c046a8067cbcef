"""Fixtures of the pipeline tests: tiny models split one file per layer, and rank processes
that are always killed at teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from odyssai.sharding import ModelInfo, NodeResources, ShardPlan
from odyssai_shard_pipeline.strategy import PipelineParallel

from support import tinymodels
from support.pipemodels import generate_batch, node_copy, split_by_layer
from support.runnerclient import free_ports

WORKER = Path(__file__).with_name("pipeline_worker.py")
TESTS_DIR = Path(__file__).parents[2]
RANK_TIMEOUT = 120.0  #: seconds a rank may take before the test gives up (never asserted)


@dataclass
class Built:
    """A tiny model on disk, its weight files in layer order, and what the unsharded model makes."""

    model: tinymodels.TinyModel
    files: tuple[str, ...]  # embeddings, layer 0 … layer L-1, norm and head; or the one file

    def info(self) -> ModelInfo:
        from mlx_lm.utils import _get_classes

        facts = PipelineParallel().inspect(_get_classes(self.model.config)[0], self.model.config)
        return ModelInfo(self.model.name, self.model.config, facts={"pipeline": facts})

    def plan(self, n: int) -> ShardPlan:
        """The orchestrator's plan over ``n`` nodes of unknown memory (an even split)."""
        info = self.info()
        assert PipelineParallel().check(info, n) is None
        return PipelineParallel().plan(info, [NodeResources(f"node{r}") for r in range(n)])

    def files_of(self, start: int, end: int) -> list[str]:
        """What a rank running layers start..end-1 must read, by the layout we wrote."""
        if len(self.files) == 1:
            return list(self.files)
        return sorted([self.files[0], *self.files[1 + start:1 + end], self.files[-1]])

    def reference(self) -> dict[str, Any]:
        from mlx_lm.utils import load_model

        model, _ = load_model(self.model.path)
        return generate_batch(model)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """``tiny(kind)``: a model built once per session, weights one file per layer."""
    root = tmp_path_factory.mktemp("pipeline-models")
    builders = {
        "deepseek_v3": lambda: tinymodels.build_deepseek_v3(root, layers=4, seed=3),
        "llama_3kv": lambda: tinymodels.build_odd_kv_llama(root, seed=5),
        "qwen3_3kv": lambda: tinymodels.build_qwen3(root, "tiny-qwen3-3kv", layers=3, heads=6,
                                                      kv_heads=3, seed=7),
        "llama_sliding": lambda: tinymodels.build_llama(
            root, "tiny-llama-sliding", layers=4, heads=6, kv_heads=3, hidden=96, seed=9,
            tie_word_embeddings=True, sliding_window=3,
            layer_types=["sliding_attention", "full_attention", "sliding_attention", "sliding_attention"]),
    }
    cache: dict[str, Built] = {}

    def get(kind: str) -> Built:
        if kind not in cache:
            if kind == "smollm2_like":  # as SmolLM2 ships: llama, 3 KV heads, tied, one file, no index
                model = tinymodels.build_llama(root, "tiny-smollm2", layers=3, heads=9, kv_heads=3,
                                               hidden=72, files=1, seed=11, tie_word_embeddings=True)
                (model.path / "model.safetensors.index.json").unlink()
                cache[kind] = Built(model, model.files)
            else:
                model = builders[kind]()
                cache[kind] = Built(model, split_by_layer(model))
        return cache[kind]

    return get


@dataclass
class RankOutput:
    rank: int
    files: list[str]
    runs: list[int]
    local_layers: int
    progress: list[Any]
    result: dict[str, Any]


class Pipeline:
    """Starts one worker per rank (ring over 127.0.0.1); each node directory holds only the
    weight files of its rank. Every process is killed at teardown, whatever happened."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(self, built: Built, plan: ShardPlan) -> list[RankOutput]:
        n = plan.n_ranks
        run_dir = self.workdir / f"{built.model.name}-{n}"
        run_dir.mkdir(parents=True)
        hostfile = run_dir / "hosts.json"
        hostfile.write_text(json.dumps([[f"127.0.0.1:{p}"] for p in free_ports(n)]))
        plan_file = run_dir / "plan.json"
        plan_file.write_text(json.dumps(plan.to_dict()))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLX_")}
        env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")])
        started = []
        for r in range(n):
            node = node_copy(built.model.path, run_dir / f"node{r}",
                             built.files_of(*plan.ranks[r]["layers"]))
            err = open(run_dir / f"rank{r}.stderr", "wb")
            proc = subprocess.Popen([sys.executable, str(WORKER), str(node), str(plan_file),
                                     str(run_dir / f"rank{r}.json")],
                                    env={**env, "MLX_RANK": str(r), "MLX_HOSTFILE": str(hostfile)},
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            err.close()
            self.procs.append(proc)
            started.append(proc)
        outputs = []
        for r, proc in enumerate(started):
            try:
                code = proc.wait(RANK_TIMEOUT)
            except subprocess.TimeoutExpired:
                code = None
            if code != 0:
                self.kill()
                logs = "\n".join(f"--- rank {i} ---\n" + (run_dir / f"rank{i}.stderr").read_text()[-3000:]
                                 for i in range(n))
                pytest.fail(f"rank {r} ended with {code}\n{logs}")
            outputs.append(RankOutput(**json.loads((run_dir / f"rank{r}.json").read_text())))
        return outputs

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def pipeline(tmp_path):
    p = Pipeline(tmp_path)
    yield p
    p.kill()
