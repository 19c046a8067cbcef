"""Fixtures for the testbed's own tests."""

from __future__ import annotations

import pytest

from odyssai_testbed import Testbed


@pytest.fixture(scope="module")
def mesh3(module_testbed_factory) -> Testbed:
    """A 3-node full mesh shared by a module's tests; they must leave it as they found it."""
    return module_testbed_factory(3)
