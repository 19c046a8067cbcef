"""A runner process on its own: hello, inspect, failures at load, and how it ends."""

import re

from safetensors import safe_open

from odyssai.protocol import Generate, Inspect, Shutdown


def test_hello_is_the_first_line_and_describes_the_node(spawn):
    r = spawn(1).rank0
    first = r.expect("hello")
    assert r.log[0] is first
    assert (first.rank, first.size, first.pid) == (0, 1, r.proc.pid)
    node = first.node
    assert node["memory_bytes"] > 0 and 0 < node["free_bytes"] <= node["memory_bytes"]
    assert node["mlx"] and node["mlx-lm"] and node["odyssai"] and node["python"]
    assert r.expect("phase").phase == "starting"


def test_inspect_reports_config_and_every_strategys_facts(spawn):
    r = spawn(1).rank0
    r.send(Inspect(model="tiny-qwen3"))
    got = r.expect("inspected")
    assert got.exists and got.error is None and got.path.endswith("tiny-qwen3")
    assert got.config["num_key_value_heads"] == 4
    assert got.facts["tensor"]["has_shard"] is True
    assert "single" in got.facts


def test_inspect_of_a_missing_model_says_it_does_not_exist(spawn):
    r = spawn(1).rank0
    r.send(Inspect(model="no-such-model"))
    got = r.expect("inspected")
    assert not got.exists and "no-such-model" in got.error


def test_inspect_refuses_a_name_that_leaves_the_models_dir(spawn):
    r = spawn(1).rank0
    r.send(Inspect(model="../tiny-llama"))
    got = r.expect("inspected")
    assert not got.exists and got.config == {} and ".." in got.error


def test_generate_before_load_is_answered_with_an_error(spawn):
    r = spawn(1).rank0
    r.send(Generate(id="early", prompt="hi"))
    assert r.completion("early").done.finish_reason == "error"


def test_shutdown_before_load_exits_0(spawn):
    r = spawn(1).rank0
    r.expect("hello")
    r.send(Shutdown())
    assert r.wait() == 0
    assert r.phases()[-1] == "stopped"


def test_closing_stdin_makes_every_rank_exit(spawn):
    cluster = spawn(2)
    cluster.load("tiny-llama", "tensor")
    for r in cluster.runners:
        r.close_stdin()
    assert [r.wait(20) for r in cluster.runners] == [3, 3]


def test_a_fault_load_error_fails_that_rank_with_the_text(spawn):
    cluster = spawn(2)
    text = "[jaccl] Changing queue pair to RTR failed with errno 16"
    cluster.load("tiny-llama", "tensor", faults={1: text}, wait=False)
    r1 = cluster.runners[1]
    err = r1.expect("error")
    assert err.where == "load" and text in err.message and err.message.startswith("rank 1: ")
    assert r1.wait(30) == 1
    assert r1.phases()[-2:] == ["loading", "failed"]
    assert text in r1.stderr_text()


def test_a_shape_mismatch_names_rank_tensor_and_both_shapes(spawn, tiny_models):
    cluster = spawn(2)
    cluster.load("tiny-llama-badshape", "tensor", wait=False)
    for r in cluster.runners:
        err = r.expect("error")
        assert err.where == "load"
        m = re.search(r"^rank (\d): shape mismatch for tensor (\S+): the weight files have (\([\d, ]+\)), "
                      r"the model built from config.json expects (\([\d, ]+\))", err.message)
        assert m, err.message
        assert int(m.group(1)) == r.rank
        name, on_disk, expected = m.group(2), m.group(3), m.group(4)
        files = sorted((tiny_models / "tiny-llama-badshape").glob("model-*.safetensors"))
        shapes = {}
        for f in files:
            with safe_open(str(f), "np") as st:
                shapes.update({k: tuple(st.get_slice(k).get_shape()) for k in st.keys()})
        assert on_disk == str(shapes[name]) and expected != on_disk
        assert "96" in expected
        assert r.wait(30) == 1


def test_a_tensor_split_the_kv_heads_do_not_allow_is_refused_at_load(spawn):
    cluster = spawn(2)
    cluster.load("tiny-llama-3kv", "tensor", wait=False)
    for r in cluster.runners:
        err = r.expect("error")
        assert err.message == (f"rank {r.rank}: Llama with 3 KV heads cannot be split over 2 nodes: "
                               "use 1 or 3 nodes, or sharding=pipeline")


def test_a_rank_that_dies_takes_rank_0_down_with_an_error(spawn):
    cluster = spawn(2)
    cluster.load("tiny-llama", "tensor")
    cluster.runners[1].kill()
    r0 = cluster.rank0
    err = r0.expect("error")
    assert err.where == "generate" and err.message.startswith("rank 0: generation failed")
    assert r0.wait(30) == 1 and r0.phases()[-1] == "failed"


def test_loading_with_a_strategy_that_is_not_installed_fails_naming_the_installed_ones(spawn):
    cluster = spawn(1)
    cluster.load("tiny-llama", "ring-of-fire", wait=False)
    err = cluster.rank0.expect("error")
    assert err.where == "load" and "'ring-of-fire' is not installed" in err.message and "tensor" in err.message
    assert cluster.rank0.wait(30) == 1


def test_a_non_zero_rank_refuses_generate(spawn):
    r1 = spawn(2).runners[1]
    r1.send(Generate(id="wrong-rank", prompt="hi"))
    done = r1.completion("wrong-rank").done
    assert done.finish_reason == "error" and "rank 0" in done.error


def _gone(pid):
    """Exited: no such process, or a zombie its new parent has not reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-m", "odyssai.runner", "--rank", "0", "--size", "1",
                          "--models-dir", sys.argv[1]], stdout=subprocess.PIPE)
child.stdout.readline()  # its hello: it is up and watching
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_runner_whose_parent_dies_exits_even_with_stdin_open(tmp_path, tiny_models):
    import os
    import signal
    import subprocess
    import sys
    import time

    read_end, write_end = os.pipe()  # the runner's stdin; this test keeps it open throughout
    log = open(tmp_path / "runner.stderr", "wb")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tiny_models)], stdin=read_end,
                              stdout=subprocess.PIPE, stderr=log, text=True)
    os.close(read_end)
    try:
        child = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _gone(child):
                break
            time.sleep(0.1)
        else:
            os.kill(child, signal.SIGKILL)
            raise AssertionError(f"the runner outlived its parent: {(tmp_path / 'runner.stderr').read_text()}")
    finally:
        os.close(write_end)
        if parent.poll() is None:
            parent.kill()
