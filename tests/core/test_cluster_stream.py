"""Tokens waiting for a slow reader are merged into one chunk, in order, with nothing lost."""

from odyssai import protocol
from odyssai.cluster import _merge


def test_waiting_tokens_merge_into_one_message_in_order():
    lp = lambda t: protocol.TokenLogprob(token=t, logprob=-1.0)  # noqa: E731
    merged = _merge([protocol.Tokens(id="r", text="Hel", token_ids=[1], logprobs=[lp("Hel")]),
                     protocol.Tokens(id="r", text="lo", token_ids=[2, 3], logprobs=[lp("l"), lp("o")])])
    assert (merged.text, merged.token_ids) == ("Hello", [1, 2, 3])
    assert [x.token for x in merged.logprobs] == ["Hel", "l", "o"]


def test_one_message_is_passed_through_and_no_logprobs_stay_none():
    one = protocol.Tokens(id="r", text="x", token_ids=[7])
    assert _merge([one]) is one
    assert _merge([one, protocol.Tokens(id="r", text="y", token_ids=[8])]).logprobs is None
