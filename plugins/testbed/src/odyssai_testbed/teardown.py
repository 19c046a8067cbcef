"""Removing a testbed, or what a crashed run left behind, and proving nothing is left.

Everything a testbed makes is found from its id (namespaces ``otb<id>-*``, root interfaces
``otb<id>*``) and its state dir (sshd processes started with ``-f STATE/nodes/...``, reboot
helpers given ``STATE``), so teardown works from a registry entry alone.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from . import plan, registry, state, system
from .errors import TestbedError

PROBE_RE = re.compile(r"^otb-probe-(\d+)$")  # made by requirements.testbed_missing()


def stray_pids(state_dir: Path | str | None) -> list[int]:
    """sshd processes and reboot helpers of the testbed in ``state_dir``, wherever they run."""
    if not state_dir:
        return []
    sd = str(state_dir)
    return sorted(set(system.pids_matching("sshd", f"{sd}/nodes/"))
                  | set(system.pids_matching("odyssai_testbed", "reboot-node", f"{sd} ")))


def leftovers(tid: str, state_dir: Path | str | None = None) -> list[str]:
    """What of testbed ``tid`` still exists: namespaces, interfaces, processes (empty when gone)."""
    out = [f"namespace {n}" for n in system.namespaces() if plan.id_of(n) == tid]
    out += [f"interface {i}" for i in system.root_links() if plan.id_of(i) == tid]
    out += [f"process {p} ({system.cmdline(p)[:80]})" for p in stray_pids(state_dir)]
    return out


def teardown(tid: str, state_dir: Path | str | None) -> None:
    """Remove every part of testbed ``tid``; raise if anything survives."""
    for pid in stray_pids(state_dir):  # helpers first, so none restarts an sshd behind our back
        if "reboot-node" in system.cmdline(pid):
            system.kill(pid)
    spaces = [n for n in system.namespaces() if plan.id_of(n) == tid]
    for ns in spaces:
        system.kill_namespace(ns)
    for link in system.root_links():
        if plan.id_of(link) == tid:
            system.ip("link", "del", link, check=False)  # a veth takes its peer with it
    for ns in spaces:
        system.ip("netns", "del", ns, check=False)
    for pid in stray_pids(state_dir):  # an sshd whose namespace was deleted under it
        system.kill(pid)
    if state_dir:
        _forget(Path(state_dir), tid)
    left = leftovers(tid, state_dir)
    if left:
        raise TestbedError(f"teardown of testbed {tid} left {', '.join(left)}",
                           hint="run the same 'odyssai testbed down' again, or remove them by hand")
    registry.release(tid)


def _forget(state_dir: Path, tid: str) -> None:
    """Drop the state file and the topology clusters this testbed wrote (if still its own)."""
    try:
        record = state.load(state_dir)
    except TestbedError:
        return
    if record.id != tid:
        return
    for t in record.topologies:
        with contextlib.suppress(Exception):  # a broken or edited topology file is left alone
            _remove_cluster(Path(t["path"]), t["cluster"], state_dir)
    for node in record.nodes:
        (state_dir / "nodes" / node / "sshd.pid").unlink(missing_ok=True)
    (state_dir / state.STATE_FILE).unlink(missing_ok=True)


def owns_cluster(cluster: object, state_dir: Path) -> bool:
    """Does the topology ``cluster`` describe the testbed in ``state_dir`` (its nodes use its known_hosts)?"""
    from .sshd import known_hosts

    nodes = getattr(cluster, "nodes", [])
    return bool(nodes) and all(n.known_hosts == str(known_hosts(state_dir)) for n in nodes)


def _remove_cluster(path: Path, cluster: str, state_dir: Path) -> None:
    from odyssai.topology import load_topology, save_clusters

    c = load_topology(path).clusters.get(cluster)
    if c is not None and owns_cluster(c, state_dir):
        save_clusters(path, {cluster: None})


def cleanup_leftovers(*, home: str | None = None, everything: bool = False) -> list[str]:
    """Tear down testbeds whose owning process died, and return the ids removed.

    :param home: also tear down the testbeds made by ``odyssai testbed up`` from this
        ``ODYSSAI_HOME`` (never one in use by a running process, nor one of another home).
    :param everything: tear down every testbed on the machine, whoever made it.

    Also removes namespaces and interfaces with the testbed prefix that no registry entry
    accounts for, and probe namespaces of dead processes. If some could not be removed, raises
    after trying all of them.
    """
    removed, failed = [], []

    def attempt(tid: str, state_dir: str | None) -> None:
        try:
            teardown(tid, state_dir)
            removed.append(tid)
        except TestbedError as e:
            failed.append(str(e))

    with registry.locked():  # one cleaner at a time: two would trip over each other's half-done work
        for e in registry.entries():
            if everything or not e.live or (home is not None and e.persistent and e.home == home):
                attempt(e.id, e.state_dir or None)
        for tid in sorted(registry.orphan_ids()):
            attempt(tid, None)
    for ns in system.namespaces():
        m = PROBE_RE.match(ns)
        if m and not system.alive(int(m.group(1)), None):
            system.ip("netns", "del", ns, check=False)
    if failed:
        raise TestbedError("; ".join(failed))
    return removed
