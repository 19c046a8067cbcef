"""On a machine that cannot run a testbed, its tests skip with the reason -- and fail on CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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



ANY_SKIP = '''
import pytest

def test_skips():
    pytest.skip("chromium is missing")

@pytest.mark.xfail(reason="known bug")
def test_expected_to_fail():
    assert False
'''
MODULE_SKIP = '''
import pytest

pytest.importorskip("no_such_module_anywhere")

def test_never_collected():
    pass
'''
# the hooks of the suite's own conftest (tests/conftest.py), nothing else of it
CI_RULE_CONFTEST = f'''
import importlib.util
_spec = importlib.util.spec_from_file_location(
    "suite_conftest", {str(Path(__file__).parents[2] / "conftest.py")!r})
_suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_suite)
pytest_runtest_makereport = _suite.pytest_runtest_makereport
pytest_make_collect_report = _suite.pytest_make_collect_report
'''


@pytest.fixture
def run_suite_rule(tmp_path):
    (tmp_path / "conftest.py").write_text(CI_RULE_CONFTEST)
    (tmp_path / "test_any_skip.py").write_text(ANY_SKIP)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)

    def run(ci: str | None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
        return subprocess.run([sys.executable, "-m", "pytest", "-rsfE", "--continue-on-collection-errors",
                               "-p", "no:cacheprovider", str(tmp_path)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    return run


def test_any_skip_in_the_suite_is_a_skip_off_ci(run_suite_rule):
    run = run_suite_rule(ci=None)
    assert run.returncode == 0, run.stdout
    assert "2 skipped, 1 xfailed" in run.stdout.strip().splitlines()[-1]


def test_any_skip_in_the_suite_fails_when_ci_is_true_even_a_module_level_importorskip(run_suite_rule):
    run = run_suite_rule(ci="true")
    assert run.returncode != 0, run.stdout
    summary = run.stdout.strip().splitlines()[-1]
    assert "1 failed" in summary and "1 error" in summary and "1 xfailed" in summary
    assert "skipped" not in summary, summary
    assert "chromium is missing (CI=true: a test may not be skipped)" in run.stdout
    assert "no_such_module_anywhere" in run.stdout and "(CI=true: a module may not be skipped)" in run.stdout
