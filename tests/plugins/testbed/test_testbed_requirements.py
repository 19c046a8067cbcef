"""On a machine that cannot run a testbed, its tests skip with the reason -- and fail on CI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

INNER_TESTS = '''
import pytest

@pytest.mark.testbed
def test_marked():
    pass

def test_using_the_factory(testbed_factory):
    testbed_factory(1)
'''
# what a machine without root looks like to the fixtures
INNER_CONFTEST = '''
import odyssai_testbed.requirements as requirements
requirements.testbed_missing = lambda: "the testbed needs root"
'''


@pytest.fixture
def run_inner(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    testbed: needs the testbed\n")
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)

    def run(ci: str | None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
        return subprocess.run([sys.executable, "-m", "pytest", "-rsf", "-p", "odyssai_testbed.fixtures",
                               "-p", "no:cacheprovider", str(tmp_path)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    return run


def test_testbed_tests_skip_with_the_reason_where_the_testbed_cannot_run(run_inner):
    run = run_inner(ci=None)
    assert run.returncode == 0, run.stdout
    assert "2 skipped" in run.stdout and "the testbed needs root" in run.stdout


def test_testbed_tests_fail_instead_of_skipping_when_ci_is_true(run_inner):
    run = run_inner(ci="true")
    assert run.returncode == 1, run.stdout
    summary = run.stdout.strip().splitlines()[-1]
    assert "1 failed, 1 error" in summary and "skipped" not in summary  # the factory fails in setup
    assert run.stdout.count("the testbed needs root (CI=true: a testbed test may not be skipped)") >= 2

