"""``odyssai demo``'s edges: a taken port is refused before anything is pulled or spawned, and
Ctrl-C while the ranks load stops the load and leaves no runner behind. (The happy path, the
README command from a fresh clone answering "Paris", is in tests/integration/test_smollm2.py.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.server import free_port
from support.tinymodels import build_llama


def processes_mentioning(text: str) -> list[str]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmd and "odyssai.runner" in cmd:
                out.append(f"{d.name}: {cmd}")
    return out


def demo(home: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, ODYSSAI_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "odyssai.cli", "demo", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def test_a_taken_port_is_refused_in_one_line_before_anything_is_pulled(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = demo(tmp_path / "home", "--once", "--port", str(port))
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert out.strip().splitlines() == [
        f"error: cannot serve on 127.0.0.1:{port}: Address already in use "
        "(another server has that port: stop it, or pass --port / set ODYSSAI_PORT)"]
    assert not (tmp_path / "home" / "models").exists()  # nothing was pulled


@pytest.mark.slow
def test_ctrl_c_while_the_ranks_load_stops_the_demo_and_leaves_no_runner(tmp_path):
    home = tmp_path / "home"
    build_llama(home / "models", "tiny-llama")
    proc = demo(home, "--once", "--model", "tiny-llama", "--port", str(free_port()))
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "rank 0: starting" in line or "rank 1: starting" in line:
                break
        assert any("starting" in s for s in seen), "".join(seen)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    out = "".join(seen) + rest
    assert proc.returncode == 0 and out.rstrip().endswith("stopped"), out
    assert "Traceback" not in out and "A: " not in out, out  # no sample chat against a stopped server
    deadline = time.monotonic() + 10
    while processes_mentioning(str(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(home)) == []
