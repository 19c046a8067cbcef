"""Helpers for the testbed tests: fe80 neighbour probing and ssh."""

from __future__ import annotations

import json
import subprocess

from odyssai_testbed import Testbed


def fe80_neighbours(tb: Testbed, node: str) -> dict[str, set[str]]:
    """From ``node``: ping ff02::1 on each Thunderbolt port, then read ``ip -6 neigh`` per port.

    This is what discovery does on a Mac (``ping6 ff02::1%en2``, then ``ndp -an``).
    """
    ns = tb.namespace(node)
    pings = [subprocess.Popen(["ip", "netns", "exec", ns, "ping", "-6", "-n", "-q", "-c", "2", "-i", "0.2",
                               "-W", "0.5", f"ff02::1%{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for port in tb.ports(node)]
    for p in pings:
        p.wait(timeout=10)
    found = {}
    for port in tb.ports(node):
        out = tb.exec(node, ["ip", "-j", "-6", "neigh", "show", "dev", port], check=True).stdout
        entries = json.loads(out) if out.strip() else []
        found[port] = {e["dst"] for e in entries if e["dst"].startswith("fe80")
                       and not {"FAILED", "INCOMPLETE"} & set(e.get("state", []))}
    return found


def ssh(tb: Testbed, node: str, *cmd: str, **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` on ``node`` with the real ``ssh`` client."""
    kw.setdefault("timeout", 30)
    return subprocess.run(tb.ssh_argv(node, *cmd), capture_output=True, text=True, **kw)
