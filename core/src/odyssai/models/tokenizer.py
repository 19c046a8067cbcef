"""A Hugging Face tokenizer (``tokenizer.json`` + ``tokenizer_config.json``) from a GGUF's
``tokenizer.ggml.*`` metadata.

Only byte-level BPE (``tokenizer.ggml.model == "gpt2"``) is built: the vocabulary and merges are
the file's, already spelled in GPT-2's byte alphabet. How text is split before BPE
(``tokenizer.ggml.pre``) follows llama.cpp's table in ``llama-vocab.cpp``; a pre-tokenizer this
module does not know is refused rather than guessed, since a wrong split still "works" but tokenizes
differently from the model's training. Control tokens (type 3) become special added tokens, user-
defined ones (type 4) plain added tokens, each pinned to the id the file gives it.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import UnsupportedGGUF

_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
           r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

#: ``tokenizer.ggml.pre`` -> the regexes llama.cpp splits with, in order
PRE_TOKENIZER_SPLITS: dict[str, list[str]] = {
    **{k: [_GPT2] for k in ("default", "gpt-2", "gpt2", "mpt", "olmo", "jais", "phi-2",
                            "roberta-bpe", "trillion")},
    **{k: [r"\p{N}", _GPT2] for k in ("smollm", "starcoder", "refact", "command-r", "codeshell",
                                      "exaone", "minerva-7b")},
    **{k: [_LLAMA3] for k in ("llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "smaug-bpe",
                              "dbrx")},
}
#: pre-tokenizers whose BPE takes a word found whole in the vocabulary as is (llama.cpp's
#: ``ignore_merges``, HF's ``BPE(ignore_merges=True)``)
IGNORE_MERGES = {"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "smaug-bpe", "dbrx"}
_CONTROL, _USER_DEFINED, _UNKNOWN = 3, 4, 2


def _token(md: dict[str, Any], key: str) -> str | None:
    tokens = md["tokenizer.ggml.tokens"]
    i = md.get(f"tokenizer.ggml.{key}_token_id")
    return tokens[int(i)] if i is not None and 0 <= int(i) < len(tokens) else None


def tokenizer_json(md: dict[str, Any]) -> str:
    """The ``tokenizer.json`` text for the file's tokenizer; UnsupportedGGUF if it is not
    byte-level BPE or its pre-tokenizer is not one llama.cpp's table (as copied here) names."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    kind = md.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise UnsupportedGGUF(f"tokenizer model {kind!r} is not supported",
                              hint="only byte-level BPE ('gpt2') GGUF tokenizers can be imported")
    tokens: list[str] = md.get("tokenizer.ggml.tokens") or []
    merges: list[str] = md.get("tokenizer.ggml.merges") or []
    if not tokens or not merges:
        raise UnsupportedGGUF("the GGUF's BPE tokenizer has no tokens or no merges")
    pre = md.get("tokenizer.ggml.pre") or "default"
    if pre not in PRE_TOKENIZER_SPLITS:
        raise UnsupportedGGUF(f"pre-tokenizer {pre!r} is not supported",
                              hint="known: " + ", ".join(sorted(PRE_TOKENIZER_SPLITS)))
    vocab: dict[str, int] = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    bpe = models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges],
                     ignore_merges=pre in IGNORE_MERGES)
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in PRE_TOKENIZER_SPLITS[pre]]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    bos = _token(md, "bos") if md.get("tokenizer.ggml.add_bos_token") else None
    eos = _token(md, "eos") if md.get("tokenizer.ggml.add_eos_token") else None
    if bos or eos:
        def seq(var: str, n: int) -> list[str]:
            return [f"{bos}:{n}"] * bool(bos) + [f"${var}:{n}"] + [f"{eos}:{n}"] * bool(eos)

        tok.post_processor = processors.TemplateProcessing(
            single=" ".join(seq("A", 0)), pair=" ".join(seq("A", 0) + seq("B", 1)),
            special_tokens=[(t, vocab[t]) for t in dict.fromkeys(x for x in (bos, eos) if x)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    data = json.loads(tok.to_str())
    types = md.get("tokenizer.ggml.token_type") or []
    data["added_tokens"] = [
        {"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": t != _USER_DEFINED}
        for i, t in enumerate(types) if t in (_CONTROL, _USER_DEFINED, _UNKNOWN)
    ]
    text = json.dumps(data, ensure_ascii=False)
    check = Tokenizer.from_str(text)  # the file must load, and every added token keep its id
    for a in data["added_tokens"]:
        if check.token_to_id(a["content"]) != a["id"]:
            raise UnsupportedGGUF(f"token {a['content']!r} appears twice in the GGUF vocabulary")
    return text


def tokenizer_config(md: dict[str, Any]) -> dict[str, Any]:
    """``tokenizer_config.json``: the special tokens, whether BOS/EOS are added, the chat template."""
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": bool(md.get("tokenizer.ggml.add_bos_token", False)),
        "add_eos_token": bool(md.get("tokenizer.ggml.add_eos_token", False)),
        "clean_up_tokenization_spaces": False,
        "model_max_length": int(md.get("llama.context_length", 2048)),
    }
    for name, key in (("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unknown"),
                      ("pad_token", "padding")):
        if (t := _token(md, key)) is not None:
            config[name] = t
    if template := md.get("tokenizer.chat_template"):
        config["chat_template"] = template
    return config
