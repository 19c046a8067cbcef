"""Looking inside testbed nodes: which runner processes live there."""

from __future__ import annotations

import time
from pathlib import Path

from odyssai.topology import Cluster


def runner_pids(tb, node: str) -> list[int]:
    """PIDs of odyssai runners living inside ``node``'s namespace."""
    pids = []
    for pid in tb.pids(node):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "odyssai.runner" in cmd:
            pids.append(pid)
    return pids


def wait_no_runners(tb, timeout: float = 20.0) -> dict[str, list[int]]:
    deadline = time.monotonic() + timeout
    while True:
        left = {n: runner_pids(tb, n) for n in tb.node_names}
        if not any(left.values()) or time.monotonic() > deadline:
            return {n: p for n, p in left.items() if p}
        time.sleep(0.2)


def sub_cluster(tb, nodes: list[str], **kw) -> Cluster:
    full = tb.cluster()
    return Cluster(backend=full.backend, nodes=[n for n in full.nodes if n.name in nodes], **kw)
