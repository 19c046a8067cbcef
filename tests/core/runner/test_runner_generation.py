"""Generation through real runners: 2 ranks tensor-parallel and 1 rank 'single', token for token
against mlx-lm's own generate on the unsharded model."""

import pytest

from odyssai.protocol import Cancel, Generate, SamplingParams, Shutdown

MODEL = "tiny-llama"
PROMPTS = ["Hello world", "The cluster spreads", "Once upon a time", "Numbers: 1 2 3"]


@pytest.fixture(scope="module")
def tensor(spawn_module):
    """Two ranks, tensor-parallel, at most 2 sequences at once."""
    cluster = spawn_module(2, "tensor")
    cluster.loaded = cluster.load(MODEL, "tensor", max_batch=2)
    return cluster


@pytest.fixture(scope="module")
def single(spawn_module):
    cluster = spawn_module(1, "single")
    cluster.load(MODEL, "single")
    return cluster


def generate(cluster, id, prompt=None, messages=None, **params):
    cluster.rank0.send(Generate(id=id, prompt=prompt, messages=messages, params=SamplingParams(**params)))


def test_a_two_rank_tensor_load_walks_starting_loading_idle(tensor):
    for r in tensor.runners:
        assert r.phases()[:3] == ["starting", "loading", "idle"]
        progress = r.messages("progress")
        assert progress and progress[-1].done == progress[-1].total
    for loaded in tensor.loaded:
        assert loaded.files == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
        assert loaded.eos_token_ids == [2]


def test_a_greedy_completion_over_two_ranks_equals_mlx_lm_unsharded(tensor, reference):
    generate(tensor, "g1", prompt=PROMPTS[0], max_tokens=24)
    out = tensor.rank0.completion("g1")
    expected = reference.greedy(MODEL, reference.prompt_ids(MODEL, PROMPTS[0]), 24)
    assert out.token_ids == expected
    assert out.done.finish_reason == "length" and out.done.completion_tokens == 24
    assert out.done.prompt_tokens == len(reference.prompt_ids(MODEL, PROMPTS[0]))
    assert out.text == reference.tokenizer(MODEL).decode(expected)


def test_a_qwen3_completion_over_two_ranks_equals_mlx_lm_unsharded(spawn, reference):
    cluster = spawn(2)
    cluster.load("tiny-qwen3", "tensor")
    generate(cluster, "q", prompt=PROMPTS[0], max_tokens=16)
    out = cluster.rank0.completion("q")
    assert out.token_ids == reference.greedy("tiny-qwen3", reference.prompt_ids("tiny-qwen3", PROMPTS[0]), 16)


def test_chat_messages_go_through_the_models_chat_template(tensor, reference):
    messages = [{"role": "user", "content": "Hello there"}]
    generate(tensor, "chat", messages=messages, max_tokens=12)
    out = tensor.rank0.completion("chat")
    assert out.token_ids == reference.greedy(MODEL, reference.prompt_ids(MODEL, messages=messages), 12)


def test_a_greedy_completion_on_one_rank_equals_mlx_lm(single, reference):
    generate(single, "s1", prompt=PROMPTS[1], max_tokens=24)
    out = single.rank0.completion("s1")
    assert out.token_ids == reference.greedy(MODEL, reference.prompt_ids(MODEL, PROMPTS[1]), 24)


def test_concurrent_requests_each_match_their_output_alone(tensor, reference):
    ids = [f"c{i}" for i in range(len(PROMPTS))]  # 4 requests, 2 slots: two wait and join later
    for id, prompt in zip(ids, PROMPTS):
        generate(tensor, id, prompt=prompt, max_tokens=16)
    for id, prompt in zip(ids, PROMPTS):
        out = tensor.rank0.completion(id)
        assert out.token_ids == reference.greedy(MODEL, reference.prompt_ids(MODEL, prompt), 16), id


def test_cancel_mid_generation_frees_the_slot_and_the_others_continue(tensor, reference):
    r0 = tensor.rank0
    generate(tensor, "long1", prompt=PROMPTS[2], max_tokens=400)
    generate(tensor, "long2", prompt=PROMPTS[3], max_tokens=40)
    generate(tensor, "next", prompt=PROMPTS[0], max_tokens=8)  # waits: both slots are taken
    r0.wait_tokens("long1", 3)
    r0.send(Cancel(id="long1"))
    cancelled = r0.completion("long1")
    assert cancelled.done.finish_reason == "cancelled" and cancelled.done.completion_tokens < 400
    nxt = r0.completion("next")
    assert nxt.token_ids == reference.greedy(MODEL, reference.prompt_ids(MODEL, PROMPTS[0]), 8)
    long2 = r0.completion("long2")
    assert long2.token_ids == reference.greedy(MODEL, reference.prompt_ids(MODEL, PROMPTS[3]), 40)
    n = len(r0.messages())
    r0.wait_for(lambda m: m.type == "phase" and m.phase == "idle", start=n - 3)


def _printable_window(text, start, width=3):
    for i in range(start, len(text) - width):
        piece = text[i:i + width]
        if piece.isascii() and piece.isprintable() and piece.strip() == piece and text.find(piece) == i:
            return piece
    raise AssertionError(f"no printable stop string candidate in {text!r}")


def test_a_stop_string_cuts_the_text_exactly_before_it(tensor):
    generate(tensor, "free", prompt=PROMPTS[1], max_tokens=30)
    full = tensor.rank0.completion("free").text
    stop = _printable_window(full, len(full) // 3)
    generate(tensor, "cut", prompt=PROMPTS[1], max_tokens=30, stop=[stop])
    out = tensor.rank0.completion("cut")
    assert out.done.finish_reason == "stop"
    assert out.text == full[:full.find(stop)]
    assert out.done.completion_tokens < 30


def test_a_stop_string_that_never_completes_costs_no_text(tensor):
    generate(tensor, "free2", prompt=PROMPTS[2], max_tokens=20)
    full = tensor.rank0.completion("free2").text
    never = _printable_window(full, 2) + "\x00never"
    generate(tensor, "held", prompt=PROMPTS[2], max_tokens=20, stop=[never])
    out = tensor.rank0.completion("held")
    assert out.done.finish_reason == "length" and out.text == full


def test_the_same_seed_gives_the_same_text_even_alongside_other_requests(tensor):
    generate(tensor, "seed-a", prompt=PROMPTS[0], max_tokens=24, temperature=1.5, seed=7)
    a = tensor.rank0.completion("seed-a")
    generate(tensor, "seed-b", prompt=PROMPTS[0], max_tokens=24, temperature=1.5, seed=7)
    generate(tensor, "other", prompt=PROMPTS[1], max_tokens=24, temperature=1.5, seed=8)
    b = tensor.rank0.completion("seed-b")
    generate(tensor, "seed-c", prompt=PROMPTS[0], max_tokens=24, temperature=1.5, seed=8)
    c = tensor.rank0.completion("seed-c")
    assert a.token_ids == b.token_ids and a.text == b.text
    assert c.token_ids != a.token_ids


def test_logprobs_come_per_token_with_the_top_alternatives(tensor):
    generate(tensor, "lp", prompt=PROMPTS[0], max_tokens=6, logprobs=True, top_logprobs=3)
    out = tensor.rank0.completion("lp")
    assert len(out.logprobs) == len(out.token_ids) == 6
    for lp in out.logprobs:
        assert lp.logprob <= 0 and len(lp.top_logprobs) == 3
        assert lp.top_logprobs[0]["token"] == lp.token  # greedy: the chosen token is the most likely
        assert abs(lp.top_logprobs[0]["logprob"] - lp.logprob) < 1e-6
        assert [t["logprob"] for t in lp.top_logprobs] == sorted((t["logprob"] for t in lp.top_logprobs), reverse=True)


@pytest.mark.parametrize("kind", ["empty", "too-long", "both"])
def test_a_bad_request_fails_alone_and_the_runner_keeps_serving(tensor, reference, kind):
    if kind == "empty":
        generate(tensor, f"bad-{kind}", prompt="")
    elif kind == "too-long":
        generate(tensor, f"bad-{kind}", prompt="hello " * 600)
    else:
        generate(tensor, f"bad-{kind}", prompt="x", messages=[{"role": "user", "content": "y"}])
    bad = tensor.rank0.completion(f"bad-{kind}")
    assert bad.done.finish_reason == "error" and bad.done.error
    if kind == "too-long":
        assert "context" in bad.done.error
    generate(tensor, f"ok-{kind}", prompt=PROMPTS[0], max_tokens=4)
    ok = tensor.rank0.completion(f"ok-{kind}")
    assert ok.token_ids == reference.greedy(MODEL, reference.prompt_ids(MODEL, PROMPTS[0]), 4)


def test_stats_are_reported_while_generating(tensor):
    generate(tensor, "stats", prompt=PROMPTS[0], max_tokens=300)
    tensor.rank0.wait_for(lambda m: m.type == "stats" and m.active >= 1)
    tensor.rank0.send(Cancel(id="stats"))
    assert tensor.rank0.completion("stats").done.finish_reason == "cancelled"


def test_shutdown_stops_every_rank_with_exit_code_0(spawn):
    cluster = spawn(2)
    cluster.load(MODEL, "tensor")
    generate(cluster, "during", prompt=PROMPTS[0], max_tokens=400)
    cluster.rank0.wait_tokens("during", 2)
    assert cluster.shutdown() == [0, 0]
    assert cluster.rank0.completion("during").done.finish_reason == "cancelled"
    for r in cluster.runners:
        assert r.phases()[-1] == "stopped"
        assert r.raw == []  # nothing but protocol lines on stdout


def test_a_non_zero_rank_told_to_shut_down_alone_exits_anyway(spawn):
    cluster = spawn(2)
    cluster.load(MODEL, "tensor")
    r1 = cluster.runners[1]
    r1.send(Shutdown())
    assert r1.wait(30) == 0
    assert r1.phases()[-1] == "stopped"
