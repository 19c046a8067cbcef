"""SSH to nodes with asyncssh: host keys always verified, commands always quoted.

``connect`` maps every way of not getting in (unreachable, refused, unknown or changed host key,
key not accepted) to a one-line ``LoadFailed`` naming the node and what to do.
``command_line`` builds the remote shell command from validated parts with ``shlex.quote``.
"""

from __future__ import annotations

import asyncio
import re
import shlex
import socket
from pathlib import Path
from typing import Any, Mapping, Sequence

import asyncssh

from .discovery import CommandResult
from .errors import LoadFailed
from .topology import Node

ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def command_line(argv: Sequence[str], env: Mapping[str, str] | None = None, *, exec_: bool = False) -> str:
    """A POSIX shell command that runs ``argv`` with ``env`` set; every word quoted."""
    words = []
    for key, value in (env or {}).items():
        if not ENV_KEY_RE.match(key):
            raise ValueError(f"invalid environment variable name {key!r}")
        words.append(f"{key}={shlex.quote(str(value))}")
    cmd = " ".join(shlex.quote(str(a)) for a in argv)
    if words:
        cmd = "env " + " ".join(words) + " " + cmd
    return ("exec " + cmd) if exec_ else cmd


DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


def known_hosts_file(node: Node) -> str:
    """The known_hosts file the host key of ``node`` is checked against, as a shell word.

    The node's own ``known_hosts`` (expanded and quoted) when topology.yaml sets one; otherwise
    asyncssh's default, ``~/.ssh/known_hosts`` (left unquoted, so that the shell expands ``~``).
    """
    if node.known_hosts:
        return shlex.quote(str(Path(node.known_hosts).expanduser()))
    return DEFAULT_KNOWN_HOSTS


def where(node: Node) -> str:
    return f"{node.user + '@' if node.user else ''}{node.host}:{node.port}"


async def connect(node: Node, timeout: float = 15.0) -> asyncssh.SSHClientConnection:
    """Open an SSH connection to ``node``; its host key must be known."""
    kwargs: dict[str, Any] = {"port": node.port, "connect_timeout": timeout,
                              "keepalive_interval": 15, "keepalive_count_max": 4}
    if node.user:
        kwargs["username"] = node.user
    if node.identity_file:
        kwargs["client_keys"] = [str(Path(node.identity_file).expanduser())]
    if node.known_hosts:
        path = Path(node.known_hosts).expanduser()
        if not path.exists():
            raise LoadFailed(f"node {node.name}: known_hosts file {path} does not exist",
                             hint="fix 'known_hosts' in topology.yaml", param="known_hosts")
        kwargs["known_hosts"] = str(path)
    try:
        return await asyncssh.connect(node.host, **kwargs)
    except asyncssh.HostKeyNotVerifiable as e:
        raise LoadFailed(f"node {node.name} ({where(node)}): host key not verified: {e.reason}",
                         hint=f"check the node's identity, then add its key: ssh-keyscan -p {node.port} "
                              f"{shlex.quote(node.host)} >> {known_hosts_file(node)}") from None
    except asyncssh.PermissionDenied:
        raise LoadFailed(f"node {node.name} ({where(node)}): SSH key not accepted",
                         hint="install your public key in the node's authorized_keys "
                              "or set 'identity_file' in topology.yaml") from None
    except (OSError, asyncssh.Error, asyncio.TimeoutError, socket.gaierror) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise LoadFailed(f"node {node.name} ({where(node)}) is unreachable over SSH: {reason}",
                         hint="is the node on and sshd running? check 'host' and 'port' in topology.yaml") from None


async def run_on_node(node: Node, argv: Sequence[str] | str, *, timeout: float = 30.0,
                      connect_timeout: float = 15.0, input: str | None = None) -> CommandResult:
    """Run one command on ``node`` (argv is quoted; a str is taken as a ready shell line)."""
    line = argv if isinstance(argv, str) else command_line(argv)
    if node.spawner == "local":
        proc = await asyncio.create_subprocess_shell(
            line, stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(input.encode() if input else None), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            return CommandResult(124, "", f"timed out after {timeout:.0f}s")
        return CommandResult(proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))
    conn = await connect(node, connect_timeout)
    try:
        result = await asyncio.wait_for(conn.run(line, input=input, check=False), timeout)
        return CommandResult(result.exit_status if result.exit_status is not None else 255,
                             str(result.stdout or ""), str(result.stderr or ""))
    except asyncio.TimeoutError:
        return CommandResult(124, "", f"timed out after {timeout:.0f}s")
    except (asyncssh.Error, OSError) as e:
        return CommandResult(255, "", f"connection lost: {e}")
    finally:
        conn.close()
