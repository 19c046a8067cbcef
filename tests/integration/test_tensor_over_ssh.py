"""Distributed inference end to end: runners spawned over SSH on the testbed, ring, tensor parallel.

Every test here goes through the real server (``odyssai serve``), real sshd in network
namespaces, real MLX ring collectives between the nodes, and the official ``openai`` client.
"""

from __future__ import annotations

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
