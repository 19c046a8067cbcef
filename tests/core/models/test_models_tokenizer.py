"""The Hugging Face tokenizer rebuilt from a GGUF's tokenizer.ggml.* metadata."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer
from tokenizers.pre_tokenizers import ByteLevel

from llama_gguf_builder import CHAT_TEMPLATE, CORPUS, SPECIALS
from odyssai.models.errors import UnsupportedGGUF
from odyssai.models.tokenizer import tokenizer_config, tokenizer_json


def _metadata_of(tok, **over):
    vocab = tok.get_vocab()
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    merges = [" ".join(m) if isinstance(m, list) else m for m in json.loads(tok.to_str())["model"]["merges"]]
    md = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "default",
          "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.merges": merges,
          "tokenizer.ggml.token_type": [3 if t in SPECIALS else 1 for t in tokens],
          "tokenizer.ggml.bos_token_id": vocab["<|im_start|>"],
          "tokenizer.ggml.eos_token_id": vocab["<|im_end|>"],
          "tokenizer.chat_template": CHAT_TEMPLATE, "llama.context_length": 256}
    md.update(over)
    return md


def _tiny_digits_vocab(pre):
    alphabet = sorted(set(ByteLevel.alphabet()))
    tokens = alphabet + ["20", "24", "2024"]
    return {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre, "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.merges": ["2 0", "2 4", "20 24"],
            "tokenizer.ggml.token_type": [1] * len(tokens)}


TEXTS = ["the quick brown fox", "hello world, what is the capital of france?",
         "  spaced\tand\nnewlines  ", "unseen wörds ünïcode 🦙", "<|im_start|>user\nhi<|im_end|>"]


@pytest.mark.parametrize("text", TEXTS)
def test_rebuilt_tokenizer_encodes_like_the_tokenizer_the_gguf_came_from(bpe_tokenizer, text):
    rebuilt = Tokenizer.from_str(tokenizer_json(_metadata_of(bpe_tokenizer)))
    assert rebuilt.encode(text).ids == bpe_tokenizer.encode(text).ids


def test_rebuilt_tokenizer_decodes_back_to_the_text(bpe_tokenizer):
    rebuilt = Tokenizer.from_str(tokenizer_json(_metadata_of(bpe_tokenizer)))
    text = CORPUS[2] + " 🦙"
    assert rebuilt.decode(rebuilt.encode(text).ids) == text


def test_control_tokens_stay_whole_special_and_keep_their_ids(bpe_tokenizer):
    md = _metadata_of(bpe_tokenizer)
    data = json.loads(tokenizer_json(md))
    added = {a["content"]: (a["id"], a["special"]) for a in data["added_tokens"]}
    assert added == {t: (bpe_tokenizer.token_to_id(t), True) for t in SPECIALS}


def test_smollm_pre_tokenizer_splits_digits_one_by_one():
    whole = Tokenizer.from_str(tokenizer_json(_tiny_digits_vocab("default"))).encode("2024").tokens
    split = Tokenizer.from_str(tokenizer_json(_tiny_digits_vocab("smollm"))).encode("2024").tokens
    assert (whole, split) == (["2024"], ["2", "0", "2", "4"])


def test_bos_is_prepended_when_the_gguf_says_add_bos_token(bpe_tokenizer):
    md = _metadata_of(bpe_tokenizer, **{"tokenizer.ggml.add_bos_token": True})
    ids = Tokenizer.from_str(tokenizer_json(md)).encode("hello").ids
    assert ids[0] == bpe_tokenizer.token_to_id("<|im_start|>")


def test_an_unknown_pre_tokenizer_is_refused_naming_it(bpe_tokenizer):
    with pytest.raises(UnsupportedGGUF, match="pre-tokenizer 'made-up' is not supported"):
        tokenizer_json(_metadata_of(bpe_tokenizer, **{"tokenizer.ggml.pre": "made-up"}))


def test_a_sentencepiece_tokenizer_is_refused_naming_it(bpe_tokenizer):
    with pytest.raises(UnsupportedGGUF, match="tokenizer model 'llama' is not supported"):
        tokenizer_json(_metadata_of(bpe_tokenizer, **{"tokenizer.ggml.model": "llama"}))


def test_tokenizer_config_names_special_tokens_and_carries_the_chat_template(bpe_tokenizer):
    c = tokenizer_config(_metadata_of(bpe_tokenizer))
    assert (c["bos_token"], c["eos_token"], c["chat_template"], c["add_bos_token"]) == (
        "<|im_start|>", "<|im_end|>", CHAT_TEMPLATE, False)
