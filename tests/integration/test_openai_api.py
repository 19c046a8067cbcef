"""The OpenAI API on a 2-node testbed cluster, driven by the official ``openai`` client."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from odyssai.topology import save_clusters
from support.nodes import sub_cluster
from support.reference import _load, greedy
from support.server import Server

pytestmark = [pytest.mark.testbed, pytest.mark.slow]
MODEL = "tiny-llama"
CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Count to ten."}]


@pytest.fixture(scope="module")
def api(testbed4, tmp_path_factory):
    home = tmp_path_factory.mktemp("api")
    save_clusters(home / "topology.yaml", {"pair": sub_cluster(testbed4, testbed4.node_names[:2])})
    srv = Server(home)
    r = srv.http.post("/admin/pair/load", params={"wait": "true"}, json={"model": MODEL})
    assert r.status_code == 200, r.text
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def model_path(testbed4):
    return testbed4.node_dir("node1") / "models" / MODEL


def test_models_lists_the_loaded_model_with_its_cluster_and_sharding(api):
    models = api.http.get("/v1/models").json()["data"]
    assert [(m["id"], m["cluster"], m["sharding"]) for m in models] == [(MODEL, "pair", "tensor")]
    assert [m.id for m in api.openai().models.list()] == [MODEL]


def test_a_chat_completion_equals_the_unsharded_greedy_answer_and_counts_usage(api, model_path):
    reply = api.openai().chat.completions.create(model=MODEL, messages=CHAT, max_tokens=10, temperature=0)
    ids, text = greedy(model_path, messages=CHAT, max_tokens=10)
    _, tokenizer = _load(str(model_path))
    assert reply.choices[0].message.content == text
    assert reply.usage.prompt_tokens == len(tokenizer.apply_chat_template(CHAT, add_generation_prompt=True))
    stopped = len(ids) < 10  # the end-of-sequence token is generated, and counted, but not shown
    assert reply.choices[0].finish_reason == ("stop" if stopped else "length")
    assert reply.usage.completion_tokens == len(ids) + stopped


def test_a_text_completion_equals_the_unsharded_greedy_text(api, model_path):
    reply = api.openai().completions.create(model=MODEL, prompt="Once upon a time", max_tokens=8, temperature=0)
    _, text = greedy(model_path, prompt="Once upon a time", max_tokens=8)
    assert reply.choices[0].text == text
    _, tokenizer = _load(str(model_path))
    assert reply.usage.prompt_tokens == len(tokenizer.encode("Once upon a time"))


def test_streaming_gives_the_same_text_in_chunks_then_usage_then_done(api):
    client = api.openai()
    whole = client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=12, temperature=0)
    chunks = list(client.chat.completions.create(model=MODEL, messages=CHAT, max_tokens=12, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    raw = httpx.post(api.url + "/v1/completions", json={"model": MODEL, "prompt": "Hi", "max_tokens": 3,
                                                        "stream": True}, timeout=60).text
    assert raw.rstrip().endswith("data: [DONE]")


def test_stop_strings_cut_the_output_exactly_before_them(api, model_path):
    _, text = greedy(model_path, prompt="The quick brown fox", max_tokens=24)
    stop = text[len(text) // 2: len(text) // 2 + 2]
    assert stop.strip(), f"pick a visible stop string from {text!r}"
    want = text[: text.index(stop)]
    client = api.openai()
    reply = client.completions.create(model=MODEL, prompt="The quick brown fox", max_tokens=24,
                                      temperature=0, stop=[stop, "\u2603never"])
    assert reply.choices[0].text == want and reply.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt="The quick brown fox", max_tokens=24, temperature=0, stop=stop, stream=True))
    assert streamed == want


def test_the_same_seed_gives_the_same_text(api):
    client = api.openai()
    kw = dict(model=MODEL, messages=CHAT, max_tokens=12, temperature=1.0, top_p=0.95)
    a = client.chat.completions.create(seed=1234, **kw).choices[0].message.content
    b = client.chat.completions.create(seed=1234, **kw).choices[0].message.content
    others = {client.chat.completions.create(seed=s, **kw).choices[0].message.content for s in (1, 2, 3)}
    assert a == b
    assert others - {a}, "three other seeds all gave the same text: the seed is not used"


def test_logprobs_are_given_per_token_with_the_requested_alternatives(api):
    reply = api.openai().chat.completions.create(model=MODEL, messages=CHAT, max_tokens=6, temperature=0,
                                                 logprobs=True, top_logprobs=3)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 3 for t in content)
    # greedy: the chosen token is the most likely one
    assert all(t.top_logprobs[0].logprob == pytest.approx(t.logprob, abs=1e-4) for t in content)


def test_text_completion_logprobs_and_max_completion_tokens(api, model_path):
    client = api.openai()
    reply = client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=5, temperature=0,
                                      logprobs=2)
    lp = reply.choices[0].logprobs
    assert "".join(lp.tokens) == reply.choices[0].text
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == reply.usage.completion_tokens
    # the legacy format keys alternatives by text: two byte tokens that both show as '\ufffd' share one key
    assert all(1 <= len(alts) <= 2 and max(alts.values()) == pytest.approx(p, abs=1e-4)
               for alts, p in zip(lp.top_logprobs, lp.token_logprobs)), (lp.tokens, lp.top_logprobs)
    ids, text = greedy(model_path, messages=CHAT, max_tokens=3)
    chat = client.chat.completions.create(model=MODEL, messages=CHAT, temperature=0, max_completion_tokens=3)
    assert chat.choices[0].message.content == text
    assert chat.usage.completion_tokens == len(ids) + (len(ids) < 3)


def _stream_text(client, prompt: str, max_tokens: int) -> str:
    return "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt=prompt, max_tokens=max_tokens, temperature=0, stream=True))


def test_eight_concurrent_streaming_clients_all_get_their_complete_answer(api, model_path):
    prompts = [f"Numbers: {i} {i + 1}" for i in range(8)]
    want = [greedy(model_path, prompt=p, max_tokens=16)[1] for p in prompts]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda p: _stream_text(api.openai(), p, 16), prompts))
    assert got == want


def test_a_client_that_disconnects_mid_stream_does_not_disturb_the_others(api, model_path):
    prompts = [f"Hello {i}" for i in range(7)]
    want = [greedy(model_path, prompt=p, max_tokens=24)[1] for p in prompts]
    started = threading.Event()

    def quitter() -> None:
        stream = api.openai().completions.create(model=MODEL, prompt="Goodbye", max_tokens=200,
                                                 temperature=0, stream=True)
        for i, _ in enumerate(stream):
            if i == 2:
                started.set()
                stream.close()
                return

    with ThreadPoolExecutor(8) as pool:
        q = pool.submit(quitter)
        started.wait(60)
        got = list(pool.map(lambda p: _stream_text(api.openai(), p, 24), prompts))
        q.result()
    assert got == want
    for _ in range(100):
        if api.status("pair")["requests"]["open"] == 0:
            break
        threading.Event().wait(0.1)
    assert api.status("pair")["requests"]["open"] == 0


def test_a_model_that_is_not_loaded_is_a_404_listing_what_is(api):
    with pytest.raises(openai.NotFoundError) as e:
        api.openai().chat.completions.create(model="other-model", messages=CHAT)
    assert e.value.body["message"] == "model 'other-model' is not loaded (loaded models: tiny-llama)"
    assert e.value.body["code"] == "model_not_found"


@pytest.mark.parametrize("body,param", [
    ({"model": MODEL, "messages": CHAT, "temperature": 3}, "temperature"),
    ({"model": MODEL, "messages": CHAT, "max_tokens": 0}, "max_tokens"),
    ({"model": MODEL, "messages": CHAT, "top_p": "high"}, "top_p"),
    ({"model": MODEL, "messages": "hello"}, "messages"),
    ({"model": MODEL, "messages": [{"role": "wizard", "content": "x"}]}, "messages"),
    ({"messages": CHAT}, "model"),
])
def test_wrong_types_and_out_of_range_values_are_400_naming_the_field(api, body, param):
    r = httpx.post(api.url + "/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 400
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert err["param"].split(".")[0].split("[")[0] == param


def test_malformed_json_is_a_400(api):
    r = httpx.post(api.url + "/v1/chat/completions", content=b'{"model": ', timeout=30,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_a_full_queue_answers_429(testbed4, tmp_path):
    from support.tinymodels import build_llama, rewrite_config

    for node in testbed4.node_names[:2]:  # a model that never ends early: its EOS id is never sampled
        rewrite_config(build_llama(testbed4.node_dir(node) / "models", "tiny-endless"), eos_token_id=10**9)
    save_clusters(tmp_path / "topology.yaml", {"pair": sub_cluster(testbed4, testbed4.node_names[:2])})
    srv = Server(tmp_path, env={"ODYSSAI_MAX_BATCH": "1", "ODYSSAI_MAX_QUEUE": "1"})
    try:
        r = srv.http.post("/admin/pair/load", params={"wait": "true"}, json={"model": "tiny-endless"})
        assert r.status_code == 200, r.text
        client = srv.openai()
        streams = [client.completions.create(model="tiny-endless", prompt=f"Long {i}", max_tokens=400,
                                             temperature=0, stream=True) for i in range(2)]
        next(iter(streams[0]))            # the first generates; the second waits in the queue
        assert srv.status("pair")["requests"]["open"] == 2
        with pytest.raises(openai.RateLimitError) as e:
            client.completions.create(model="tiny-endless", prompt="one too many", max_tokens=5)
        assert "limit 2" in e.value.body["message"]
        for s in streams:
            s.close()
    finally:
        srv.stop()


def test_with_an_api_key_the_openai_client_needs_it(testbed4, tmp_path):
    save_clusters(tmp_path / "topology.yaml", {"pair": sub_cluster(testbed4, testbed4.node_names[:2])})
    srv = Server(tmp_path, api_key="sk-test-123")
    try:
        import openai as oa

        bad = oa.OpenAI(base_url=srv.url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(oa.AuthenticationError) as e:
            bad.models.list()
        assert e.value.body["type"] == "authentication_error"
        assert srv.openai().models.list().data == []
    finally:
        srv.stop()
