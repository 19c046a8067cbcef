"""Can this machine run a testbed? One line saying what is missing, or None.

Used by ``Testbed.up`` (as an error) and by the pytest fixtures (as a skip, or a failure when
``CI=true``: on CI a testbed test must never be silently skipped).
"""

from __future__ import annotations

import functools
import os
import sys

from . import system


def testbed_missing() -> str | None:
    """Why the testbed cannot run here (Linux, root, programs, namespaces, veths), else None."""
    return _missing()


@functools.lru_cache(maxsize=1)
def _missing() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"the testbed needs Linux network namespaces (this machine runs {sys.platform})"
    if os.geteuid() != 0:
        return "the testbed needs root (run it as root, e.g. with sudo -E)"
    if not os.path.isdir("/proc/sys/net/ipv6"):
        return "the testbed needs IPv6 (this kernel has it disabled, e.g. booted with ipv6.disable=1)"
    for program, package in system.PACKAGES.items():
        if system.find_binary(program) is None:
            return f"{program} not found: apt-get install {package}"
    probe = f"otb-probe-{os.getpid()}"  # never matches a testbed id
    made = system.ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"the testbed cannot create network namespaces: {made.stderr.strip() or 'ip netns add failed'}"
    try:
        veth = system.ip("link", "add", "otbprobe0", "type", "veth", "peer", "name", "otbprobe1",
                         netns=probe, check=False)
        if veth.returncode != 0:
            return f"the testbed cannot create veth pairs: {veth.stderr.strip() or 'ip link add failed'}"
    finally:
        system.ip("netns", "del", probe, check=False)
    return None


def ci() -> bool:
    """Is this a CI run (``CI`` set to true/1/yes)?"""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def verdict(missing: str | None, on_ci: bool) -> tuple[str, str] | None:
    """What a test needing the testbed does: None (run), ("skip", why) or ("fail", why)."""
    if missing is None:
        return None
    if on_ci:
        return "fail", f"{missing} (CI=true: a testbed test may not be skipped)"
    return "skip", missing
