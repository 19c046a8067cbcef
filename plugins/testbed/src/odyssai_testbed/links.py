"""The live state of Thunderbolt ports, read from the kernel: fe80 address, plugged, fresh."""

from __future__ import annotations

import json
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


# --- one-sided cables ------------------------------------------------------------------------
#
# A cable is one-sided when one end sees its peer as a neighbour and the other does not. On the
# testbed, the "talking" end's port drops the IPv6 neighbour solicitations and advertisements it
# would send (ICMPv6 types 135 and 136): the deaf end never learns the talker's link-layer
# address, while the talker still learns the deaf end's from the solicitations the deaf end
# sends (to answer the talker's ping), and keeps it for several seconds (DELAY, PROBE) after.
# Everything else still flows. This needs only iproute2's tc and the kernel's htb qdisc and
# u32 classifier: the filters send those packets to a class whose queue holds nothing.

MUTE_HANDLE = "dea"  # the root qdisc handle that marks a port muted by the testbed
ND_TYPES = (135, 136)  # ICMPv6 neighbour solicitation, neighbour advertisement


def is_muted(ns: str, port: str) -> bool:
    """Does ``port`` keep its neighbour discovery from the other end of its cable?"""
    out = system.tc("-j", "qdisc", "show", "dev", port, netns=ns).stdout.strip()
    qdiscs = json.loads(out) if out else []
    return any(q.get("kind") == "htb" and q.get("handle") == f"{MUTE_HANDLE}:" and q.get("root")
               for q in qdiscs)


def mute_nd(ns: str, port: str) -> None:
    """Drop the neighbour solicitations and advertisements that ``port`` sends."""
    unmute_nd(ns, port)
    h = MUTE_HANDLE
    try:
        system.tc("qdisc", "add", "dev", port, "root", "handle", f"{h}:", "htb", "default", "1", netns=ns)
        for cls in ("1", "2"):
            system.tc("class", "add", "dev", port, "parent", f"{h}:", "classid", f"{h}:{cls}", "htb",
                      "rate", "100gbit", "quantum", "60000", netns=ns)
        system.tc("qdisc", "add", "dev", port, "parent", f"{h}:2", "pfifo", "limit", "0", netns=ns)
        for icmp_type in ND_TYPES:  # next header 58 (ICMPv6) at byte 6, its type at byte 40
            system.tc("filter", "add", "dev", port, "parent", f"{h}:", "protocol", "ipv6", "prio", "1", "u32",
                      "match", "u8", "58", "0xff", "at", "6", "match", "u8", str(icmp_type), "0xff", "at", "40",
                      "flowid", f"{h}:2", netns=ns)
    except TestbedError as e:
        system.tc("qdisc", "del", "dev", port, "root", netns=ns, check=False)
        raise TestbedError(f"cannot make a cable one-sided: {e}",
                           hint="it needs tc (iproute2) and a kernel with the htb qdisc and u32 classifier") from None


def unmute_nd(ns: str, port: str) -> None:
    """Undo ``mute_nd`` (nothing to do if ``port`` is not muted)."""
    if is_muted(ns, port):
        system.tc("qdisc", "del", "dev", port, "root", netns=ns)


def forget_neighbours(ns: str, port: str) -> None:
    """Empty ``port``'s IPv6 neighbour table (what it learnt before the cable changed)."""
    system.ip("-6", "neigh", "flush", "dev", port, netns=ns)
