"""Fixtures for the model import and pull tests: synthetic GGUFs, and SmolLM2 pulled once."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_gguf_builder import SyntheticLlama, train_tokenizer, write_llama_gguf


@pytest.fixture(scope="session")
def bpe_tokenizer():
    """The ~300-token byte-level BPE every synthetic GGUF carries (trained once)."""
    return train_tokenizer()


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def make_gguf(tmp_path: Path, bpe_tokenizer):
    """``make_gguf(kind="q4_1", **options) -> SyntheticLlama``: a tiny Llama GGUF in tmp_path."""
    count = 0

    def make(kind: str = "q4_1", **options) -> SyntheticLlama:
        nonlocal count
        count += 1
        options.setdefault("tokenizer", bpe_tokenizer)
        return write_llama_gguf(tmp_path / f"tiny-{kind}-{count}.gguf", kind, **options)

    return make
