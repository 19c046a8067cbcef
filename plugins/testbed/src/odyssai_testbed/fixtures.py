"""pytest fixtures for tests that need a testbed (loaded by ``tests/conftest.py``).

- ``require_testbed``: skip with the reason when this machine cannot run a testbed (not root,
  no sshd, no namespaces...) -- but fail instead when ``CI=true``. Tests marked
  ``@pytest.mark.testbed`` get this check automatically.
- ``testbed_factory``: ``testbed_factory(nodes=3, cables=None, **kw)`` builds a testbed that is
  up, with its state under the test's ``tmp_path``; every testbed it made is torn down after the
  test, whether the test passed, failed halfway or errored.
- ``module_testbed_factory``: the same, shared by the tests of one module (faster, for tests that
  leave the testbed as they found it).
- ``testbed``: a 3-node full-mesh testbed for one test.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterator

import pytest

from . import requirements
from .testbed import Testbed


def check_testbed() -> None:
    """Skip (or on CI fail) the current test when the testbed cannot run here."""
    outcome = requirements.verdict(requirements.testbed_missing(), requirements.ci())
    if outcome is None:
        return
    kind, why = outcome
    if kind == "fail":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("testbed") is not None:
        check_testbed()


class TestbedFactory:
    """Makes testbeds that are up; ``close()`` tears down every one of them."""

    __test__ = False

    def __init__(self, base: Path):
        self.base = base
        self.made: list[Testbed] = []
        self._n = itertools.count()

    def __call__(self, nodes: Any = 3, cables: Any = None, **kw: Any) -> Testbed:
        check_testbed()
        kw.setdefault("state_dir", self.base / f"testbed{next(self._n)}")
        tb = Testbed(nodes, cables, **kw)
        self.made.append(tb)  # before up(): a testbed that fails halfway up is torn down too
        return tb.up()

    def close(self) -> None:
        errors = []
        for tb in reversed(self.made):
            try:
                tb.down()
            except Exception as e:  # keep tearing the others down
                errors.append(f"{tb.name}: {e}")
        self.made.clear()
        if errors:
            pytest.fail("testbed teardown failed: " + "; ".join(errors), pytrace=False)


@pytest.fixture
def require_testbed() -> None:
    """Skip (or, with CI=true, fail) unless this machine can run a testbed."""
    check_testbed()


@pytest.fixture
def testbed_factory(tmp_path: Path) -> Iterator[TestbedFactory]:
    """Build testbeds for one test; all are torn down after it, however it ended."""
    factory = TestbedFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="module")
def module_testbed_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestbedFactory]:
    """Build testbeds shared by one test module; torn down after its last test."""
    factory = TestbedFactory(tmp_path_factory.mktemp("testbeds"))
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def testbed(testbed_factory: TestbedFactory) -> Testbed:
    """A 3-node, full-mesh testbed that is up, for one test."""
    return testbed_factory(3)
