"""Fixtures for the runner tests: tiny models on disk, runner clusters that never outlive a test,
and the same model run unsharded in this process by mlx-lm itself, as the reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from support.runnerclient import LocalCluster
from support.tinymodels import build_llama, build_odd_kv_llama, build_qwen3, rewrite_config


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory: tiny-llama, tiny-qwen3, tiny-llama-3kv and tiny-llama-badshape
    (its config.json claims hidden_size 96, its weights have 64)."""
    root = tmp_path_factory.mktemp("models")
    build_llama(root)
    build_qwen3(root)
    build_odd_kv_llama(root)
    rewrite_config(build_llama(root, "tiny-llama-badshape"), hidden_size=96)
    return root


def _spawner(workdir: Path, models: Path) -> tuple[Callable[..., LocalCluster], list[LocalCluster]]:
    started: list[LocalCluster] = []

    def spawn(size: int, name: str = "cluster", **kw: Any) -> LocalCluster:
        cluster = LocalCluster.start(workdir / f"{name}{len(started)}", size, models, **kw)
        started.append(cluster)
        return cluster

    return spawn, started


@pytest.fixture
def spawn(tmp_path: Path, tiny_models: Path):
    """``spawn(size)`` starts that many runners; every one is killed when the test ends."""
    fn, started = _spawner(tmp_path, tiny_models)
    yield fn
    for c in started:
        c.kill()


@pytest.fixture(scope="module")
def spawn_module(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path):
    fn, started = _spawner(tmp_path_factory.mktemp("runners"), tiny_models)
    yield fn
    for c in started:
        c.kill()


class Reference:
    """mlx-lm's own ``stream_generate`` on the unsharded model, greedy."""

    def __init__(self, models: Path):
        self.models = models
        self._loaded: dict[str, tuple[Any, Any]] = {}

    def model(self, name: str) -> tuple[Any, Any]:
        if name not in self._loaded:
            from mlx_lm.utils import load_model, load_tokenizer

            model, config = load_model(self.models / name)
            tokenizer = load_tokenizer(self.models / name, eos_token_ids=config.get("eos_token_id"))
            self._loaded[name] = (model, tokenizer)
        return self._loaded[name]

    def tokenizer(self, name: str) -> Any:
        return self.model(name)[1]

    def prompt_ids(self, name: str, prompt: str | None = None, messages: list | None = None) -> list[int]:
        tok = self.tokenizer(name)
        if messages is not None:
            return list(tok.apply_chat_template(messages, add_generation_prompt=True))
        return list(tok.encode(prompt))

    def greedy(self, name: str, ids: list[int], max_tokens: int) -> list[int]:
        import mlx.core as mx
        from mlx_lm.generate import stream_generate

        model, tok = self.model(name)
        return [r.token for r in stream_generate(model, tok, mx.array(ids), max_tokens=max_tokens)]


@pytest.fixture(scope="session")
def reference(tiny_models: Path) -> Reference:
    return Reference(tiny_models)
