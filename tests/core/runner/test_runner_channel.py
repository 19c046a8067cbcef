"""The control channel's streams: stdout carries protocol lines only; bad lines do not kill."""

import subprocess
import sys

from odyssai import protocol
from odyssai.protocol import Inspect

SNIPPET = """
import os
from odyssai.runner.channel import ControlChannel
from odyssai.protocol import Hello
c = ControlChannel.open()
print("junk from print")
os.write(1, b"junk on fd 1\\n")
c.send(Hello(rank=0, size=1, pid=1))
"""


def test_printing_to_stdout_never_reaches_the_control_channel():
    done = subprocess.run([sys.executable, "-c", SNIPPET], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == protocol.encode(protocol.Hello(rank=0, size=1, pid=1))
    assert b"junk from print" in done.stderr and b"junk on fd 1" in done.stderr


def test_an_invalid_generate_is_answered_for_its_id_and_the_runner_goes_on(spawn):
    r = spawn(1).rank0
    r.proc.stdin.write(b'this is not json\n{"type":"generate","id":"hot","prompt":"a","params":{"temperature":9}}\n')
    r.proc.stdin.flush()
    done = r.completion("hot").done
    assert done.finish_reason == "error" and "temperature" in done.error
    r.send(Inspect(model="tiny-llama"))
    assert r.expect("inspected").exists


def test_end_of_stdin_exits_at_once_with_code_3(spawn):
    r = spawn(1).rank0
    r.expect("hello")
    r.close_stdin()
    assert r.wait(20) == 3
