"""Rebooting a node: everything in its namespace is killed, and its sshd comes back later.

The reboot command in ``topology.yaml`` runs *on the node*, over SSH, inside the namespace the
reboot is about to empty. So it only hands the work to a detached helper (new session, and a new
empty network namespace made by ``unshare --net``, out of reach of the kill) and returns at
once. The helper waits ``grace`` seconds (so the SSH command can answer), kills every process of
the node's namespace, waits ``delay`` seconds and starts the node's sshd again.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

from . import state, system
from .sshd import node_dir, start_sshd


def helper_argv(state_dir: Path, node: str, *, delay: float, grace: float, python: str | None = None) -> list[str]:
    """The detached helper's argv (state dir before node: teardown finds helpers by it)."""
    return [system.binary("unshare"), "--net", "--", python or sys.executable, "-m", "odyssai_testbed",
            "reboot-node", "--detached", "--delay", f"{delay:g}", "--grace", f"{grace:g}", str(state_dir), node]


def reboot_command(state_dir: Path, node: str, *, python: str | None = None, delay: float = 1.0) -> str:
    """The shell line that reboots ``node`` when run on it over SSH (for ``reboot_command``)."""
    return shlex.join([python or sys.executable, "-m", "odyssai_testbed", "reboot-node",
                       "--delay", f"{delay:g}", str(state_dir), node])


def spawn_helper(state_dir: Path, node: str, *, delay: float, grace: float) -> subprocess.Popen[bytes]:
    """Start the detached helper; it outlives the caller and its namespace."""
    record = state.load(state_dir)
    record.namespace(node)  # an unknown node is an error here, not in the helper's log
    log = open(node_dir(state_dir, node) / "reboot.log", "ab")
    try:
        return subprocess.Popen(helper_argv(state_dir, node, delay=delay, grace=grace),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd="/")
    finally:
        log.close()


def kill_node(record: state.Record, node: str) -> None:
    """Kill every process in ``node``'s namespace (its sshd, sessions and runners)."""
    system.kill_namespace(record.namespace(node))


def run_helper(state_dir: Path, node: str, *, delay: float, grace: float) -> None:
    """The helper's work: grace, kill, delay, sshd again (unless the testbed went away)."""
    time.sleep(grace)
    record = state.load(state_dir)
    tid = record.id
    kill_node(record, node)
    print(f"{time.strftime('%H:%M:%S')} {node}: killed everything; sshd back in {delay:g}s", flush=True)
    time.sleep(delay)
    try:
        record = state.load(state_dir)
    except Exception:
        record = None
    if record is None or record.id != tid:
        print(f"{node}: testbed {tid} is gone; not starting sshd", flush=True)
        return
    ns = record.namespace(node)
    if ns not in system.namespaces():
        print(f"{node}: namespace {ns} is gone; not starting sshd", flush=True)
        return
    start_sshd(state_dir, node, ns)
    print(f"{time.strftime('%H:%M:%S')} {node}: sshd started", flush=True)
