"""Starting a runner on a node, and owning it until it is gone.

Two spawners share one shape, ``RankProcess``: ``send`` writes a control message to the runner's
stdin, ``messages()`` yields what it writes on stdout, ``stderr_lines`` keeps its log, and
``stop()`` makes sure the process is gone (closing stdin first, which makes a runner exit; then
killing it by pid). ``spawn_local`` runs a subprocess on this machine; ``spawn_ssh`` runs it over
an SSH channel after writing the transport's files over SFTP.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import shlex
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import asyncssh

from . import protocol
from .errors import LoadFailed
from .ssh import command_line, connect
from .topology import Node
from .transport import RankSetup

log = logging.getLogger("odyssai.spawn")
STDERR_KEEP = 2000


def runner_argv(python: str, rank: int, size: int, models_dir: str, cluster: str) -> list[str]:
    return [python, "-u", "-m", "odyssai.runner", "--rank", str(rank), "--size", str(size),
            "--models-dir", models_dir, "--cluster", cluster]


class RankProcess:
    """A runner process as the orchestrator sees it. Subclasses implement the transport of bytes."""

    def __init__(self, node: Node, rank: int, on_stderr: Callable[[int, str], None] | None = None):
        self.node = node
        self.rank = rank
        self.pid: int | None = None
        self.exit_status: int | None = None
        self.stderr_lines: collections.deque[str] = collections.deque(maxlen=STDERR_KEEP)
        self._on_stderr = on_stderr
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self._closed = asyncio.Event()

    # -- subclass hooks -----------------------------------------------------------------
    async def _write(self, data: bytes) -> None:
        raise NotImplementedError

    async def _close_stdin(self) -> None:
        raise NotImplementedError

    async def _kill(self) -> None:
        raise NotImplementedError

    async def _wait_exit(self) -> int | None:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------
    def _start_readers(self, stdout: Any, stderr: Any) -> None:
        self._tasks.append(asyncio.create_task(self._read_stdout(stdout)))
        self._tasks.append(asyncio.create_task(self._read_stderr(stderr)))

    async def _read_stdout(self, stream: Any) -> None:
        try:
            while True:
                line = await stream.readline()
                if not line:
                    break
                if isinstance(line, str):
                    line = line.encode()
                try:
                    msg = protocol.decode_from_runner(line)
                except protocol.ProtocolError as e:
                    self.stderr_lines.append(f"[stdout] {line.decode(errors='replace').rstrip()}")
                    log.warning("rank %d (%s): %s", self.rank, self.node.name, e)
                    continue
                if isinstance(msg, protocol.Hello):
                    self.pid = msg.pid
                await self._inbox.put(msg)
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as e:  # connection lost
            log.debug("rank %d stdout ended: %s", self.rank, e)
        finally:
            await self._inbox.put(None)

    async def _read_stderr(self, stream: Any) -> None:
        try:
            while True:
                line = await stream.readline()
                if not line:
                    break
                text = line.decode(errors="replace") if isinstance(line, bytes) else line
                text = text.rstrip("\n")
                self.stderr_lines.append(text)
                if self._on_stderr:
                    self._on_stderr(self.rank, text)
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception:
            pass

    async def send(self, msg: Any) -> None:
        """Write one control message; a runner that is gone raises ``ConnectionError``."""
        if self._closed.is_set():
            raise ConnectionError(f"rank {self.rank} on {self.node.name} is stopped")
        try:
            await self._write(protocol.encode(msg))
        except (OSError, asyncssh.Error, BrokenPipeError) as e:
            raise ConnectionError(f"rank {self.rank} on {self.node.name}: {e}") from None

    async def next_message(self, timeout: float | None = None) -> Any:
        """The next message from the runner, or None when its stdout has closed."""
        if timeout is None:
            return await self._inbox.get()
        return await asyncio.wait_for(self._inbox.get(), timeout)

    def drain(self) -> tuple[list[Any], bool]:
        """The messages already received (without waiting), and whether stdout has closed."""
        out, closed = [], False
        while not self._inbox.empty():
            msg = self._inbox.get_nowait()
            if msg is None:
                closed = True
                self._inbox.put_nowait(None)  # later readers see the end too
                break
            out.append(msg)
        return out, closed

    async def messages(self) -> AsyncIterator[Any]:
        while True:
            msg = await self._inbox.get()
            if msg is None:
                return
            yield msg

    def stderr_text(self, last: int = 50) -> str:
        return "\n".join(list(self.stderr_lines)[-last:])

    async def stop(self, grace: float = 5.0) -> int | None:
        """Make sure the runner is gone: close stdin, wait ``grace`` seconds, then kill it."""
        if not self._closed.is_set():
            self._closed.set()
            try:
                await self._close_stdin()
            except Exception:
                pass
            try:
                self.exit_status = await asyncio.wait_for(self._wait_exit(), grace)
            except (asyncio.TimeoutError, Exception):
                try:
                    await self._kill()
                except Exception as e:
                    log.warning("could not kill rank %d on %s: %s", self.rank, self.node.name, e)
                try:
                    self.exit_status = await asyncio.wait_for(self._wait_exit(), grace)
                except (asyncio.TimeoutError, Exception):
                    pass
            await self._cleanup()
            for t in self._tasks:
                t.cancel()
        return self.exit_status

    async def _cleanup(self) -> None:
        """Remove what the spawn left on the node (config files)."""


# --- local ---------------------------------------------------------------------------------

class LocalRankProcess(RankProcess):
    proc: asyncio.subprocess.Process

    async def _write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def _close_stdin(self) -> None:
        if self.proc.stdin and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def _kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    async def _wait_exit(self) -> int | None:
        return await self.proc.wait()

    async def _cleanup(self) -> None:
        if getattr(self, "tmpdir", None):
            for p in Path(self.tmpdir).glob("*"):
                p.unlink(missing_ok=True)
            Path(self.tmpdir).rmdir()


async def spawn_local(node: Node, rank: int, size: int, cluster: str, models_dir: str,
                      setup: RankSetup, on_stderr: Callable[[int, str], None] | None = None) -> RankProcess:
    rp = LocalRankProcess(node, rank, on_stderr)
    env = dict(os.environ)
    env.update(setup.env)
    rp.tmpdir = tempfile.mkdtemp(prefix=f"odyssai-{cluster}-r{rank}-")
    for var, content in setup.files.items():
        path = Path(rp.tmpdir) / var.lower()
        path.write_text(content)
        env[var] = str(path)
    python = node.python if node.python != "python3" else sys.executable
    argv = runner_argv(python, rank, size, str(Path(models_dir).expanduser()), cluster)
    try:
        rp.proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True, limit=1 << 24)
    except FileNotFoundError:
        await rp._cleanup()
        raise LoadFailed(f"node {node.name}: python {node.python!r} not found", param="python",
                         hint="set 'python' of the node in topology.yaml to a Python with odyssai[runner]") from None
    rp.pid = rp.proc.pid
    rp._start_readers(rp.proc.stdout, rp.proc.stderr)
    return rp


# --- ssh -----------------------------------------------------------------------------------

class SSHRankProcess(RankProcess):
    conn: asyncssh.SSHClientConnection
    proc: asyncssh.SSHClientProcess
    remote_dir: str | None = None

    async def _write(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def _close_stdin(self) -> None:
        self.proc.stdin.write_eof()

    async def _kill(self) -> None:
        if self.pid:
            await self.conn.run(f"kill -9 {int(self.pid)} 2>/dev/null", check=False)
        self.proc.close()

    async def _wait_exit(self) -> int | None:
        await self.proc.wait_closed()
        return self.proc.exit_status

    async def _cleanup(self) -> None:
        try:
            if self.pid:  # belt and braces: the runner must be gone before we leave the node
                await asyncio.wait_for(self.conn.run(
                    f"kill -0 {int(self.pid)} 2>/dev/null && kill -9 {int(self.pid)}", check=False), 10)
            if self.remote_dir:
                await asyncio.wait_for(self.conn.run(command_line(["rm", "-rf", self.remote_dir]), check=False), 10)
        except Exception as e:
            log.debug("cleanup on %s: %s", self.node.name, e)
        finally:
            self.conn.close()


async def spawn_ssh(node: Node, rank: int, size: int, cluster: str, models_dir: str,
                    setup: RankSetup, on_stderr: Callable[[int, str], None] | None = None,
                    connect_timeout: float = 15.0) -> RankProcess:
    rp = SSHRankProcess(node, rank, on_stderr)
    rp.conn = await connect(node, connect_timeout)
    try:
        env = dict(setup.env)
        if setup.files:
            res = await rp.conn.run(f"mktemp -d /tmp/odyssai-{shlex.quote(cluster)}-r{rank}-XXXXXX", check=False)
            if res.exit_status != 0:
                raise LoadFailed(f"node {node.name}: cannot create a temporary directory: {res.stderr}".strip())
            rp.remote_dir = str(res.stdout).strip()
            async with rp.conn.start_sftp_client() as sftp:
                for var, content in setup.files.items():
                    remote = f"{rp.remote_dir}/{var.lower()}"
                    async with sftp.open(remote, "w") as f:
                        await f.write(content)
                    env[var] = remote
        argv = runner_argv(node.python, rank, size, models_dir, cluster)
        line = 'cd "$HOME" 2>/dev/null; ' + command_line(argv, env, exec_=True)
        rp.proc = await rp.conn.create_process(line, encoding=None)
    except BaseException:
        rp.conn.close()
        raise
    rp._start_readers(rp.proc.stdout, rp.proc.stderr)
    return rp


async def spawn(node: Node, rank: int, size: int, cluster: str, models_dir: str, setup: RankSetup,
                on_stderr: Callable[[int, str], None] | None = None, connect_timeout: float = 15.0) -> RankProcess:
    """Start the runner of ``rank`` on ``node`` with the spawner the node asks for."""
    if node.spawner == "local":
        return await spawn_local(node, rank, size, cluster, models_dir, setup, on_stderr)
    return await spawn_ssh(node, rank, size, cluster, models_dir, setup, on_stderr, connect_timeout)
