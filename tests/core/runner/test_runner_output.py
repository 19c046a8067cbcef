"""Rank 0's per-request output: what ends a request and what text and ids go out."""

import pytest

from odyssai.protocol import SamplingParams
from odyssai.runner.output import RequestOutput


@pytest.fixture
def tokenizer(reference):
    return reference.tokenizer("tiny-llama")


def run(tokenizer, text_tokens, params, eos=False, length_at=None):
    sent = []
    out = RequestOutput("r", tokenizer, params, prompt_tokens=5, send=sent.append)
    ended = False
    for i, t in enumerate(text_tokens):
        finish = "length" if length_at is not None and i + 1 == length_at else None
        ended = out.add(t, None, finish)
        if ended:
            break
    if eos and not ended:
        out.add(tokenizer.eos_token_id, None, None)
    return sent


def test_an_eos_token_ends_with_stop_and_is_not_part_of_the_output(tokenizer):
    ids = tokenizer.encode("Hello world")
    sent = run(tokenizer, ids, SamplingParams(), eos=True)
    done = sent[-1]
    assert done.type == "done" and done.finish_reason == "stop"
    assert done.completion_tokens == len(ids) + 1
    tokens = [m for m in sent if m.type == "tokens"]
    assert "".join(m.text for m in tokens) == "Hello world"
    assert [t for m in tokens for t in m.token_ids] == ids


def test_max_tokens_ends_with_length_and_flushes_held_back_text(tokenizer):
    ids = tokenizer.encode("Hello wor")
    sent = run(tokenizer, ids, SamplingParams(stop=["world"]), length_at=len(ids))
    assert sent[-1].finish_reason == "length"
    assert "".join(m.text for m in sent if m.type == "tokens") == "Hello wor"


def test_a_stop_string_across_tokens_cuts_the_text_exactly(tokenizer):
    ids = tokenizer.encode("the quick brown fox")
    sent = run(tokenizer, ids, SamplingParams(stop=["k bro"]))
    assert sent[-1].finish_reason == "stop"
    assert "".join(m.text for m in sent if m.type == "tokens") == "the quic"


def test_cancel_ends_with_cancelled(tokenizer):
    sent = []
    out = RequestOutput("r", tokenizer, SamplingParams(), prompt_tokens=1, send=sent.append)
    out.add(tokenizer.encode("Hi")[0], None, None)
    out.cancel()
    assert sent[-1].finish_reason == "cancelled" and sent[-1].completion_tokens == 1


def test_text_held_back_for_a_stop_string_comes_out_when_eos_ends_the_output(tokenizer):
    ids = tokenizer.encode("Hello wor")
    sent = run(tokenizer, ids, SamplingParams(stop=["world"]), eos=True)
    assert sent[-1].finish_reason == "stop"
    assert "".join(m.text for m in sent if m.type == "tokens") == "Hello wor"
