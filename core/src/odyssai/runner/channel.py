"""The control channel's two streams, as the runner sees them.

stdout carries protocol lines and nothing else: ``ControlChannel.open()`` keeps a private
duplicate of the real stdout for the protocol and points fd 1 (and ``sys.stdout``) at stderr, so
a library that prints cannot corrupt the channel. ``read_stdin`` runs on a daemon thread: it
parses each line and hands the message on; end of input means the orchestrator is gone, and the
process exits at once (``os._exit``), whatever the main thread is doing (even blocked in a
collective). ``watch_parent`` does the same when the parent process goes away.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any, Callable

from .. import protocol
from . import EXIT_ORPHANED

log = logging.getLogger("odyssai.runner")


def die(code: int, why: str) -> None:
    """Leave now, from any thread: no cleanup that could block."""
    try:
        sys.stderr.write(f"odyssai.runner: exiting ({why})\n")
        sys.stderr.flush()
    finally:
        os._exit(code)


class ControlChannel:
    """Writes protocol messages, whole lines, from any thread."""

    def __init__(self, out: Any):
        self._out = out
        self._lock = threading.Lock()
        self.closed = False

    @classmethod
    def open(cls) -> "ControlChannel":
        """Take the real stdout for the protocol and send everything else printed to stderr."""
        sys.stdout.flush()
        proto_fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        return cls(os.fdopen(proto_fd, "wb", buffering=0))

    def send(self, msg: protocol._Msg) -> None:
        data = protocol.encode(msg)
        with self._lock:
            try:
                self._out.write(data)
            except OSError:  # the reading end is gone: so is the orchestrator
                die(EXIT_ORPHANED, "control channel closed for writing")


def _request_id(line: bytes) -> tuple[str | None, str | None]:
    """Best effort: the type and id of a line that failed validation."""
    try:
        obj = json.loads(line)
        return (obj.get("type"), obj.get("id")) if isinstance(obj, dict) else (None, None)
    except (ValueError, UnicodeDecodeError):
        return None, None


def read_stdin(channel: ControlChannel, deliver: Callable[[Any], None], stdin: Any = None) -> None:
    """Read control messages until end of input, then exit the process."""
    stdin = stdin or sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            die(EXIT_ORPHANED, "control channel closed (stdin EOF)")
        if not line.strip():
            continue
        try:
            msg = protocol.decode_to_runner(line)
        except protocol.ProtocolError as e:
            kind, rid = _request_id(line)
            log.warning("%s", e)
            if kind == "generate" and isinstance(rid, str):
                channel.send(protocol.Done(id=rid, finish_reason="error", prompt_tokens=0,
                                           completion_tokens=0, error=str(e)))
            continue
        deliver(msg)


def watch_parent(parent: int | None = None, interval: float = 0.5) -> None:
    """Exit when the process that started us (``parent``) is gone: we got re-parented."""
    parent = parent or os.getppid()
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            die(EXIT_ORPHANED, f"parent process {parent} is gone")


def start_daemon(target: Callable[..., None], *args: Any, name: str) -> threading.Thread:
    t = threading.Thread(target=target, args=args, name=name, daemon=True)
    t.start()
    return t
