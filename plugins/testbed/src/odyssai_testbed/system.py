"""The edge where the testbed touches Linux: programs, ``ip``, namespaces and processes.

Every command is an argv list. A failing command becomes a one-line ``TestbedError`` naming the
command and its first line of stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Sequence

from .errors import TestbedError

NETNS_DIR = Path("/run/netns")
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin")

#: program -> the Debian package that provides it
PACKAGES = {
    "ip": "iproute2",
    "tc": "iproute2",
    "sshd": "openssh-server",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "sysctl": "procps",
    "unshare": "util-linux",
    "ping": "iputils-ping",
}


def find_binary(name: str) -> str | None:
    """The absolute path of ``name`` on PATH or in the usual sbin directories, else None."""
    found = shutil.which(name)
    if found:
        return os.path.abspath(found)
    for d in _SBIN:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def binary(name: str) -> str:
    """Like ``find_binary`` but a missing program is a TestbedError with the package to install."""
    path = find_binary(name)
    if path is None:
        raise TestbedError(f"{name} not found: apt-get install {PACKAGES.get(name, name)}")
    return path


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 30.0,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; with ``check`` a non-zero exit is a one-line TestbedError."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TestbedError(f"{' '.join(argv)} did not finish within {timeout:.0f}s") from None
    if check and proc.returncode != 0:
        first = (proc.stderr or proc.stdout).strip().splitlines()[:1]
        raise TestbedError(f"{' '.join(argv)} failed: {first[0] if first else f'exit {proc.returncode}'}")
    return proc


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``ip [-n NETNS] ARGS...``"""
    argv = [binary("ip")] + (["-n", netns] if netns else []) + list(args)
    return run(argv, check=check)


def tc(*args: str, netns: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``tc ARGS...`` inside namespace ``netns``."""
    return run(netns_exec(netns, [binary("tc"), *args]), check=check)


def ip_json(*args: str, netns: str | None = None) -> list[dict[str, Any]]:
    """``ip -j ...`` parsed; an empty answer is an empty list."""
    out = ip("-j", *args, netns=netns).stdout.strip()
    return json.loads(out) if out else []


def netns_exec(ns: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` inside network namespace ``ns``."""
    return [binary("ip"), "netns", "exec", ns, *argv]


def sysctl(ns: str, settings: dict[str, str]) -> None:
    """Set sysctls inside namespace ``ns`` (one process for all of them)."""
    run(netns_exec(ns, [binary("sysctl"), "-q", "-w", *(f"{k}={v}" for k, v in settings.items())]))


# --- namespaces and links ----------------------------------------------------------------

def namespaces() -> list[str]:
    """Names of the named network namespaces (``ip netns list``)."""
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir())


def root_links() -> list[str]:
    """Names of the interfaces in this (the root) namespace."""
    return [link["ifname"] for link in ip_json("link", "show")]


def _ns_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def namespace_pids(ns: str) -> list[int]:
    """Pids of the processes inside namespace ``ns`` (what ``ip netns pids`` prints)."""
    key = _ns_key(str(NETNS_DIR / ns))
    if key is None:
        return []
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _ns_key(f"/proc/{entry}/ns/net") == key:
            pids.append(int(entry))
    return sorted(pids)


def kill_namespace(ns: str, timeout: float = 5.0) -> None:
    """SIGKILL every process in ``ns`` (but this one) until none is left."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in namespace_pids(ns) if p != os.getpid()]
        if not pids:
            return
        if time.monotonic() > deadline:
            raise TestbedError(f"processes {pids} in namespace {ns} survived SIGKILL for {timeout:.0f}s")
        for pid in pids:
            kill(pid)
        time.sleep(0.01)


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --- processes ---------------------------------------------------------------------------

def cmdline(pid: int) -> str:
    """The command line of ``pid`` (words joined by spaces), or '' if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot): with the pid, it names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def alive(pid: int | None, started: int | None) -> bool:
    """Is the process that had ``pid`` and started at ``started`` still running?"""
    if not pid:
        return False
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def pids_matching(*needles: str) -> list[int]:
    """Pids whose command line contains every one of ``needles``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            line = cmdline(int(entry))
            if line and all(n in line for n in needles):
                out.append(int(entry))
    return out
