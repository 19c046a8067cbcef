"""Distributed inference end to end: runners spawned over SSH on the testbed, ring, tensor parallel.

Every test here goes through the real server (``odyssai serve``), real sshd in network
namespaces, real MLX ring collectives between the nodes, and the official ``openai`` client.
"""

from __future__ import annotations

import json

import pytest

from support.reference import greedy

from support.nodes import wait_no_runners

pytestmark = [pytest.mark.testbed, pytest.mark.slow]
CHAT = [{"role": "user", "content": "Hello world! How are you today?"}]


def load(server, cluster: str, model: str, **body) -> dict:
    r = server.http.post(f"/admin/{cluster}/load", params={"wait": "true"}, json={"model": model, **body})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_two_rank_tensor_load_walks_every_rank_from_starting_through_loading_to_idle(server):
    status = load(server, "two", "tiny-llama")
    assert status["phase"] == "idle" and status["sharding"]["strategy"] == "tensor"
    for rank in status["ranks"]:
        assert rank["history"][:3] == ["starting", "loading", "idle"], rank
    listed = server.http.get("/admin/clusters").json()["clusters"]
    assert {c["cluster"]: c["phase"] for c in listed}["two"] == "idle"


def test_each_tensor_rank_holds_about_half_of_the_layers_parameters(server, testbed4):
    """The split really happened: each rank reports what it holds after loading."""
    from support.pipemodels import layer_parameters

    status = load(server, "two", "tiny-llama")
    whole = sum(layer_parameters(testbed4.node_dir("node1") / "models" / "tiny-llama").values())
    held = [r["parameters"]["layer_parameters"] for r in status["ranks"]]
    for rank, n in zip(status["ranks"], held):
        assert 0.45 * whole < n < 0.55 * whole, (rank, whole)  # 1/2 of every projection, norms whole
        assert rank["parameters"]["layer_bytes"] == 4 * n  # float32
    assert whole < sum(held) < 1.05 * whole


def test_greedy_output_over_two_ranks_equals_the_unsharded_model(server, testbed4):
    load(server, "two", "tiny-llama")
    reply = server.openai().chat.completions.create(model="tiny-llama", messages=CHAT, max_tokens=12,
                                                    temperature=0, logprobs=True)
    tokens = [t.token for t in reply.choices[0].logprobs.content]
    ref_ids, ref_text = greedy(testbed4.node_dir("node1") / "models" / "tiny-llama", messages=CHAT, max_tokens=12)
    assert reply.choices[0].message.content == ref_text
    assert len(tokens) == len(ref_ids) == reply.usage.completion_tokens


def test_greedy_output_over_four_ranks_equals_the_unsharded_model(server, testbed4):
    status = load(server, "four", "tiny-qwen3")
    assert [r["phase"] for r in status["ranks"]] == ["idle"] * 4
    reply = server.openai().completions.create(model="tiny-qwen3", prompt="The quick brown fox",
                                               max_tokens=10, temperature=0)
    _, ref_text = greedy(testbed4.node_dir("node1") / "models" / "tiny-qwen3",
                         prompt="The quick brown fox", max_tokens=10)
    assert reply.choices[0].text == ref_text
    server.http.post("/admin/four/unload")


def test_unload_leaves_no_runner_process_on_any_node(server, testbed4):
    load(server, "two", "tiny-llama")
    assert server.http.post("/admin/two/unload").json()["phase"] == "unloaded"
    assert wait_no_runners(testbed4, timeout=10) == {}


def test_a_model_missing_on_the_nodes_fails_naming_them_and_the_cluster_loads_again(server):
    r = server.http.post("/admin/two/load", params={"wait": "true"}, json={"model": "no-such-model"})
    assert r.status_code == 404
    message = r.json()["error"]["message"]
    assert "no-such-model" in message and "node1" in message and "node2" in message
    assert server.status("two")["phase"] == "failed"
    assert load(server, "two", "tiny-llama")["phase"] == "idle"


def test_heads_that_do_not_divide_fail_fast_with_the_reason(server):
    r = server.http.post("/admin/two/load", params={"wait": "true"},
                         json={"model": "tiny-llama-3kv", "sharding": "tensor"})
    assert r.status_code == 422
    assert "3 KV heads cannot be split over 2 nodes" in r.json()["error"]["message"]


@pytest.mark.parametrize("body,status", [
    ({"model": "../etc/passwd"}, 400),
    ({"model": "tiny-llama; rm -rf /"}, 400),
    ({"model": "$(reboot)"}, 400),
    ({"model": "tiny-llama", "sharding": "diagonal"}, 400),
    ({"model": 42}, 400),
    ({"modle": "tiny-llama"}, 400),
])
def test_bad_admin_input_gets_a_4xx_json_error_and_spawns_nothing(server, testbed4, body, status):
    server.http.post("/admin/two/unload")
    r = server.http.post("/admin/two/load", json=body)
    assert r.status_code == status, r.text
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert server.status("two")["phase"] == "unloaded"
    assert wait_no_runners(testbed4, timeout=1) == {}


def test_malformed_json_and_an_unknown_cluster_get_4xx(server):
    r = server.http.post("/admin/two/load", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()
    r = server.http.post("/admin/nowhere/load", json={"model": "tiny-llama"})
    assert r.status_code == 404 and "nowhere" in r.json()["error"]["message"]


def test_a_model_no_strategy_can_split_is_refused_naming_each_reason(server, testbed4):
    r = server.http.post("/admin/four/load", params={"wait": "true"}, json={"model": "tiny-llama-3kv"})
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "tensor:" in message and "3 KV heads cannot be split over 4 nodes" in message
    assert "pipeline:" in message and "3 layers" in message
    assert wait_no_runners(testbed4, timeout=10) == {}


def test_a_memory_aware_pipeline_gives_the_bigger_node_more_layers_and_the_same_answer(server, testbed4):
    status = load(server, "uneven", "tiny-llama-3kv")
    plan = status["sharding"]
    assert plan["strategy"] == "pipeline"
    layers = {r["node"]: r["layers"][1] - r["layers"][0] for r in plan["ranks"]}
    assert layers["node2"] > layers["node1"] >= 1 and sum(layers.values()) == 3
    reply = server.openai().completions.create(model="tiny-llama-3kv", prompt="Hello world", max_tokens=8,
                                               temperature=0)
    _, ref = greedy(testbed4.node_dir("node1") / "models" / "tiny-llama-3kv", prompt="Hello world", max_tokens=8)
    assert reply.choices[0].text == ref
    server.http.post("/admin/uneven/unload")


def test_a_request_while_the_cluster_loads_gets_503_with_retry_after(server):
    server.http.post("/admin/two/unload")
    r = server.http.post("/admin/two/load", json={"model": "tiny-llama"})
    assert r.status_code == 202 and r.json()["phase"] == "loading"
    chat = server.http.post("/v1/chat/completions", json={"model": "tiny-llama", "messages": CHAT})
    assert chat.status_code == 503 and int(chat.headers["Retry-After"]) > 0
    assert chat.json()["error"]["type"] == "service_unavailable"
    server.wait_phase("two", {"idle"})


def test_the_cli_loads_shows_status_and_unloads_through_the_server(server, testbed4):
    from support.dists import run_odyssai

    server.http.post("/admin/two/unload")
    env = {"ODYSSAI_HOME": str(server.home)}
    r = run_odyssai("load", "two", "tiny-llama", "--server", server.url, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "two serves tiny-llama" in r.stdout and "node2" in r.stdout
    lines = r.stdout.splitlines()   # piped: a line per phase of each rank, in order
    for rank, node in ((0, "node1"), (1, "node2")):
        phases = [ln.split(": ", 1)[1] for ln in lines if ln.startswith(f"rank {rank} ({node}): ")]
        assert [p for p in phases if " " not in p] == ["starting", "loading", "idle"], lines
    r = run_odyssai("status", "two", "--json", "--server", server.url, env=env)
    assert json.loads(r.stdout)["phase"] == "idle"
    r = run_odyssai("unload", "two", "--server", server.url, env=env)
    assert r.returncode == 0 and "unloaded" in r.stdout
    assert wait_no_runners(testbed4, timeout=10) == {}
    r = run_odyssai("load", "two", "no-such-model", "--server", server.url, env=env)
    assert r.returncode != 0 and "no-such-model" in r.stderr and "Traceback" not in r.stderr


def test_models_list_shows_what_each_node_has_with_size_and_architecture(server, testbed4):
    from support.dists import run_odyssai

    r = run_odyssai("models", "list", "four", "--json", env={"ODYSSAI_HOME": str(server.home)})
    assert r.returncode == 0, r.stderr
    listing = json.loads(r.stdout)
    assert list(listing) == testbed4.node_names
    for node, info in listing.items():
        names = {m["name"]: m for m in info["models"]}
        assert {"tiny-llama", "tiny-qwen3", "tiny-llama-3kv"} <= set(names)
        assert names["tiny-qwen3"]["architecture"] == "qwen3" and names["tiny-llama"]["size_bytes"] > 0
