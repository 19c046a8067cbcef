"""Driving real runner processes from a test: local subprocesses joined by the ring backend on
127.0.0.1, spoken to over their stdin/stdout with the control-channel protocol.

    cluster = LocalCluster.start(tmp_path, size=2, models_dir=models)
    cluster.load("tiny-llama", "tensor")
    cluster.rank0.send(Generate(id="a", prompt="Hello"))
    out = cluster.rank0.completion("a")
    cluster.kill()          # always; fixtures do it in a finalizer

Each runner's stderr goes to a file (``RunnerProcess.stderr_text()``) so a failing assertion
can show it. Nothing here asserts timings: timeouts only bound how long a test may hang.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from odyssai import protocol
from odyssai.protocol import Load, Shutdown

TIMEOUT = 60.0


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def runner_env(rank: int, hostfile: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLX_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                "TRANSFORMERS_VERBOSITY": "error", "PYTHONUNBUFFERED": "1"})
    if hostfile is not None:
        env.update({"MLX_RANK": str(rank), "MLX_HOSTFILE": str(hostfile)})
    return env


@dataclass
class Completion:
    """Everything rank 0 sent about one request."""

    id: str
    text: str
    token_ids: list[int]
    done: Any
    chunks: list[Any] = field(default_factory=list)

    @property
    def logprobs(self) -> list[Any]:
        return [lp for c in self.chunks for lp in (c.logprobs or [])]


class RunnerProcess:
    def __init__(self, rank: int, size: int, models_dir: Path, workdir: Path, hostfile: Path | None,
                 extra_args: list[str] | None = None):
        self.rank = rank
        self.stderr_path = workdir / f"rank{rank}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        cmd = [sys.executable, "-m", "odyssai.runner", "--rank", str(rank), "--size", str(size),
               "--models-dir", str(models_dir), *(extra_args or [])]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     env=runner_env(rank, hostfile), cwd=workdir)
        self.log: list[Any] = []
        self.raw: list[bytes] = []  # stdout lines that were not protocol messages
        self.eof = False
        self.cursor = 0
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, name=f"rank{rank}-stdout", daemon=True)
        self._reader.start()

    # -- reading ----------------------------------------------------------------------------
    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = protocol.decode_from_runner(line)
            except protocol.ProtocolError:
                with self._cv:
                    self.raw.append(line)
                continue
            with self._cv:
                self.log.append(msg)
                self._cv.notify_all()
        with self._cv:
            self.eof = True
            self._cv.notify_all()

    def stderr_text(self, tail: int = 4000) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-tail:]

    def _fail(self, what: str) -> None:
        seen = [m.type for m in self.log]
        raise AssertionError(f"rank {self.rank}: {what}; messages so far: {seen[-40:]}; "
                             f"exit code {self.proc.poll()}; stderr:\n{self.stderr_text()}")

    def wait_for(self, pred: Callable[[Any], bool], timeout: float = TIMEOUT, start: int = 0) -> tuple[int, Any]:
        """The first message from index ``start`` on that satisfies ``pred``."""
        with self._cv:
            i = start
            while True:
                while i < len(self.log):
                    if pred(self.log[i]):
                        return i, self.log[i]
                    i += 1
                if self.eof:
                    break
                if not self._cv.wait(timeout):
                    break
        self._fail("expected message did not come")
        raise AssertionError  # unreachable

    def expect(self, type_: str, timeout: float = TIMEOUT) -> Any:
        """The next message of ``type_`` after the previous ``expect``."""
        i, msg = self.wait_for(lambda m: m.type == type_, timeout, self.cursor)
        self.cursor = i + 1
        return msg

    def messages(self, type_: str | None = None) -> list[Any]:
        with self._cv:
            return [m for m in self.log if type_ is None or m.type == type_]

    def phases(self) -> list[str]:
        return [m.phase for m in self.messages("phase")]

    def completion(self, id: str, timeout: float = TIMEOUT) -> Completion:
        _, done = self.wait_for(lambda m: m.type == "done" and m.id == id, timeout)
        chunks = [m for m in self.messages("tokens") if m.id == id]
        return Completion(id, "".join(c.text for c in chunks), [t for c in chunks for t in c.token_ids],
                          done, chunks)

    def wait_tokens(self, id: str, n: int, timeout: float = TIMEOUT) -> None:
        """Until rank 0 has streamed at least ``n`` tokens of request ``id``."""
        def enough(_: Any) -> bool:
            return sum(len(m.token_ids) for m in self.log if m.type == "tokens" and m.id == id) >= n
        self.wait_for(enough, timeout)

    # -- writing and ending -------------------------------------------------------------------
    def send(self, msg: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(protocol.encode(msg))
        self.proc.stdin.flush()

    def close_stdin(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass

    def wait(self, timeout: float = 30.0) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.close_stdin()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


class LocalCluster:
    """``size`` runners on this machine; ranks >0 exist only when size > 1 (ring on 127.0.0.1)."""

    def __init__(self, runners: list[RunnerProcess]):
        self.runners = runners

    @classmethod
    def start(cls, workdir: Path, size: int, models_dir: Path, hostfile: bool | None = None) -> "LocalCluster":
        workdir.mkdir(parents=True, exist_ok=True)
        path = None
        if hostfile if hostfile is not None else size > 1:
            path = workdir / "hostfile.json"
            path.write_text(json.dumps([[f"127.0.0.1:{p}"] for p in free_ports(size)]))
        return cls([RunnerProcess(r, size, models_dir, workdir, path) for r in range(size)])

    @property
    def rank0(self) -> RunnerProcess:
        return self.runners[0]

    def load(self, model: str, strategy: str, *, max_batch: int = 8, plan: dict | None = None,
             faults: dict[int, str] | None = None, wait: bool = True) -> list[Any]:
        """Send ``Load`` to every rank; with ``wait``, return each rank's ``Loaded``."""
        for r in self.runners:
            r.wait_for(lambda m: m.type == "hello")
            r.send(Load(model=model, strategy=strategy, plan=plan or {}, backend="ring", max_batch=max_batch,
                        fault_load_error=(faults or {}).get(r.rank)))
        if not wait:
            return []
        loaded = [r.expect("loaded", timeout=120) for r in self.runners]
        for r in self.runners:
            r.wait_for(lambda m: m.type == "phase" and m.phase == "idle", start=r.cursor)
        return loaded

    def shutdown(self) -> list[int | None]:
        for r in self.runners:
            if r.proc.poll() is None:
                try:
                    r.send(Shutdown())
                except OSError:
                    pass
        return [r.wait(30) for r in self.runners]

    def kill(self) -> None:
        for r in self.runners:
            r.kill()
