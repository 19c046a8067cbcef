"""Nothing is ever left behind: teardown, a test failing halfway, a crashed run; two testbeds coexist."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from odyssai_testbed import Testbed, TestbedError, cleanup_leftovers

from testbed_helpers import ssh

pytestmark = pytest.mark.testbed


def what_is_left(tid: str, state_dir: Path) -> list[str]:
    """Namespaces, interfaces and processes of testbed ``tid``, found without the testbed's own code."""
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    procs = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
    return ([f"namespace {line}" for line in spaces.splitlines() if f"otb{tid}-" in line]
            + [f"link {line.split(':')[1].strip()}" for line in links.splitlines() if f"otb{tid}" in line]
            + [f"process {line.strip()}" for line in procs.splitlines()
               if str(state_dir) in line and "ps -eo" not in line])


def test_teardown_leaves_no_namespace_veth_bridge_or_sshd_behind(testbed_factory):
    tb = testbed_factory(3)
    tid, state_dir = tb.id, tb.state_dir
    client = subprocess.Popen(tb.ssh_argv("node1", "sleep", "300"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    assert ssh(tb, "node2", "true").returncode == 0
    assert what_is_left(tid, state_dir)  # the check sees a testbed that is up
    tb.down()
    assert client.wait(timeout=10) == 255  # its session was killed with the node
    assert what_is_left(tid, state_dir) == []
    assert not Path(f"/run/odyssai-testbed/{tid}.json").exists()


def test_a_test_that_fails_halfway_leaves_nothing_behind(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "pytest.ini").write_text("[pytest]\nmarkers =\n    testbed: needs the testbed\n")
    made = tmp_path / "made.json"
    (inner / "test_fails.py").write_text(textwrap.dedent(f"""
        import json, subprocess

        def test_1_fails_with_a_testbed_up(testbed_factory):
            tb = testbed_factory(2)
            open({str(made)!r}, "w").write(json.dumps(tb.id))
            assert False, "failing halfway on purpose"

        def test_2_runs_after_it_in_the_same_process():
            tid = json.load(open({str(made)!r}))
            assert f"otb{{tid}}-" not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                       text=True).stdout
    """))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "odyssai_testbed.fixtures",
                          "-p", "no:cacheprovider", str(inner)], cwd=inner, capture_output=True, text=True,
                         timeout=120)
    assert "failing halfway on purpose" in run.stdout and "1 failed, 1 passed" in run.stdout, run.stdout[-2000:]
    assert what_is_left(json.loads(made.read_text()), tmp_path) == []


def test_the_leftovers_of_a_crashed_run_are_cleaned_up(tmp_path):
    crash = textwrap.dedent(f"""
        import os, signal, sys
        from odyssai_testbed import Testbed
        tb = Testbed(2, state_dir={str(tmp_path / 'crashed')!r}).up()
        print(tb.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    try:
        run = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, timeout=60)
        assert run.returncode == -signal.SIGKILL, run.stderr
        tid = run.stdout.strip()
        assert what_is_left(tid, tmp_path / "crashed"), "the crashed run should have left its testbed"
        cleanup_leftovers()  # (another test run's next testbed may beat us to it: also fine)
        assert what_is_left(tid, tmp_path / "crashed") == []
    finally:
        cleanup_leftovers()


def test_two_testbeds_at_once_do_not_collide(testbed_factory):
    first, second = testbed_factory(2), testbed_factory(2)
    assert first.id != second.id and first.subnet != second.subnet
    assert set(map(first.namespace, first.node_names)).isdisjoint(map(second.namespace, second.node_names))
    for tb in (first, second):
        for node in tb.node_names:
            assert ssh(tb, node, "ip", "-4", "-o", "addr", "show", "dev", "en0").stdout.count(tb.node_ip(node)) == 1


def test_tearing_one_testbed_down_leaves_the_other_working(testbed_factory):
    first, second = testbed_factory(1), testbed_factory(1)
    first.down()
    assert ssh(second, "node1", "true").returncode == 0


def test_a_second_testbed_with_the_same_name_is_refused(testbed_factory, tmp_path):
    first = testbed_factory(1)
    with pytest.raises(TestbedError, match="already up"):
        Testbed(1, name=first.name, state_dir=tmp_path / "other").up()


def test_a_testbed_used_as_a_context_manager_is_gone_after_the_block(require_testbed, tmp_path):
    with Testbed(1, state_dir=tmp_path / "ctx") as tb:
        tid = tb.id
        assert tb.ssh_answers("node1")
    assert what_is_left(tid, tmp_path / "ctx") == []
    assert not os.path.exists(tmp_path / "ctx" / "testbed.json")
