"""Each node's OpenSSH server and the client side that talks to it.

The files of one node live in ``STATE/nodes/<node>/`` (host key, ``sshd_config``,
``authorized_keys``, pid file, log); the client key and ``known_hosts`` in ``STATE/client/``.
Host-key checking always stays on.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import time
from pathlib import Path
from typing import Sequence

from .errors import TestbedError
from .system import binary, netns_exec, run

SAFE_PATH_RE = re.compile(r"^[A-Za-z0-9_./+@:,=-]+$")


def check_state_dir(path: Path) -> Path:
    """State dirs end up in sshd_config and remote commands: keep them to plain characters."""
    if not SAFE_PATH_RE.match(str(path)):
        raise TestbedError(f"testbed state dir {str(path)!r} may contain only letters, digits and ._+@:,=-/",
                           hint="choose another --state-dir")
    return path


def node_dir(state_dir: Path, node: str) -> Path:
    return state_dir / "nodes" / node


def client_key(state_dir: Path) -> Path:
    return state_dir / "client" / "id_ed25519"


def known_hosts(state_dir: Path) -> Path:
    return state_dir / "client" / "known_hosts"


def sshd_config(state_dir: Path, node: str, address: str, port: int = 22) -> str:
    """The ``sshd_config`` of ``node``: key-only root login, SFTP, its own pid file and keys."""
    d = node_dir(state_dir, node)
    return "\n".join([
        f"# odyssai testbed node {node}: written by odyssai-testbed, rewritten at every 'up'",
        f"ListenAddress {address}:{port}",
        f"HostKey {d / 'ssh_host_ed25519_key'}",
        f"PidFile {d / 'sshd.pid'}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        "PrintMotd no",
        "AcceptEnv LANG LC_*",
        "MaxStartups 100:30:200",
        "MaxSessions 64",
        "Subsystem sftp internal-sftp",
        # A node has a home of its own, as a fresh Mac would: the session's shell then reads the
        # node's (empty) rc files, not this machine's, whose setup (e.g. pyenv's rehash lock,
        # left stale when a reboot kills a shell holding it) can stall every SSH command.
        f"SetEnv HOME={d / 'home'}",
        "",
    ])


def keygen(path: Path, comment: str) -> str:
    """Generate an ed25519 key pair at ``path`` (replacing an old one); return the public line."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for p in (path, path.with_name(path.name + ".pub")):
        p.unlink(missing_ok=True)
    run([binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return path.with_name(path.name + ".pub").read_text().strip()


def known_hosts_line(address: str, public_line: str, port: int = 22) -> str:
    """``<host> <keytype> <key>``; ``[host]:port`` when the port is not 22."""
    host = address if port == 22 else f"[{address}]:{port}"
    keytype, key = public_line.split()[:2]
    return f"{host} {keytype} {key}"


def start_sshd(state_dir: Path, node: str, ns: str) -> None:
    """Start ``node``'s sshd inside namespace ``ns`` (it daemonizes; its pid goes to the pid file)."""
    d = node_dir(state_dir, node)
    (d / "sshd.pid").unlink(missing_ok=True)
    (d / "home").mkdir(mode=0o700, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    proc = run(netns_exec(ns, [binary("sshd"), "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")]),
               check=False)
    if proc.returncode != 0:
        raise TestbedError(f"sshd on {node} did not start: {last_log_line(d / 'sshd.log') or proc.stderr.strip()}")


def last_log_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def answers(address: str, port: int = 22, timeout: float = 0.5) -> bool:
    """Does an SSH server answer at ``address:port`` (its banner starts with ``SSH-``)?"""
    try:
        with socket.create_connection((address, port), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def wait_answers(address: str, what: str, timeout: float, log: Path | None = None, port: int = 22) -> None:
    deadline = time.monotonic() + timeout
    while not answers(address, port):
        if time.monotonic() > deadline:
            extra = f" (last log line: {last_log_line(log)})" if log and last_log_line(log) else ""
            raise TestbedError(f"{what} did not answer SSH at {address}:{port} within {timeout:g}s{extra}")
        time.sleep(0.02)


def ssh_argv(address: str, identity_file: Path, known_hosts_file: Path, cmd: Sequence[str],
             *, port: int = 22, user: str = "root", connect_timeout: float = 5.0) -> list[str]:
    """An ``ssh`` argv that checks the host key, never prompts, and runs ``cmd`` quoted word by word."""
    argv = [binary("ssh"), "-F", "none", "-i", str(identity_file),
            "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", f"UserKnownHostsFile={known_hosts_file}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no", "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={connect_timeout:g}", "-o", "LogLevel=ERROR",
            "-p", str(port), "-l", user, address]
    if cmd:
        argv += ["--", shlex.join(str(c) for c in cmd)]
    return argv


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
