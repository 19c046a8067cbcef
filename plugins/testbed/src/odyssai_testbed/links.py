"""The live state of Thunderbolt ports, read from the kernel: fe80 address, plugged, fresh."""

from __future__ import annotations

import time
from typing import Sequence

from . import system
from .errors import TestbedError
from .plan import Cable
from .state import Record


def link_local(ns: str, port: str) -> str | None:
    """The usable (not tentative) fe80 address of ``port`` in namespace ``ns``, or None."""
    for link in system.ip_json("-6", "addr", "show", "dev", port, "scope", "link", netns=ns):
        for a in link.get("addr_info", []):
            if a.get("local", "").startswith("fe80") and not a.get("tentative"):
                return a["local"]
    return None


def is_plugged(ns: str, port: str) -> bool:
    """Is ``port`` admin up (its end of the cable plugged in)?"""
    links = system.ip_json("link", "show", "dev", port, netns=ns)
    return bool(links) and "UP" in links[0].get("flags", [])


def addrgenmode(ns: str, port: str) -> str:
    """How the kernel makes ``port``'s fe80 address: ``eui64``, or ``none`` on a fresh node."""
    links = system.ip_json("-d", "link", "show", "dev", port, netns=ns)
    return links[0].get("inet6_addr_gen_mode", "?") if links else "?"


def wait_link_local(record: Record, cables: Sequence[Cable], timeout: float) -> None:
    """Wait for fe80 on every end of ``cables`` that should have one (both ends up, not fresh)."""
    want = []
    for c in cables:
        ends = [(record.namespace(n), n, p) for n, p in c.ends]
        if all(is_plugged(ns, p) for ns, _, p in ends):
            want += [e for e in ends if addrgenmode(e[0], e[2]) != "none"]
    deadline = time.monotonic() + timeout
    for ns, node, port in want:
        while link_local(ns, port) is None:
            if time.monotonic() > deadline:
                raise TestbedError(f"{node}:{port} got no fe80 address within {timeout:g}s")
            time.sleep(0.01)
