"""Meta-tests over the hook specifications: each is documented and each is exercised by a test."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from odyssai import hookspecs

ROOT = Path(__file__).resolve().parents[2]
SPECS = [(n, f) for n, f in inspect.getmembers(hookspecs, inspect.isfunction) if n.startswith("odyssai_")]


def test_there_are_hooks_for_each_of_the_five_areas_and_the_cli():
    names = {n for n, _ in SPECS}
    for needed in ("odyssai_register_transports", "odyssai_register_shard_strategies",
                   "odyssai_register_discoverers", "odyssai_register_remedies",
                   "odyssai_litestar_plugins", "odyssai_cli"):
        assert needed in names


@pytest.mark.parametrize("name,fn", SPECS, ids=[n for n, _ in SPECS])
def test_every_hookspec_is_documented_with_its_signature(name, fn):
    docs = (ROOT / "docs" / "hooks.md").read_text()
    signature = f"def {name}{str(inspect.signature(fn)).replace(chr(39), '')}"
    assert f"## {name}" in docs and signature in docs


@pytest.mark.parametrize("name,fn", SPECS, ids=[n for n, _ in SPECS])
def test_every_hookspec_has_a_docstring_with_its_params(name, fn):
    doc = inspect.getdoc(fn) or ""
    params = [p for p in inspect.signature(fn).parameters]
    assert doc and all(f":param {p}:" in doc for p in params)


@pytest.mark.parametrize("name,fn", SPECS, ids=[n for n, _ in SPECS])
def test_every_hookspec_is_exercised_by_a_test_or_a_first_party_plugin_under_test(name, fn):
    me = Path(__file__).resolve()
    sources = [p for p in (ROOT / "tests").rglob("*.py") if p.resolve() != me]
    assert any(name in p.read_text() for p in sources), f"no test implements or calls {name}"
