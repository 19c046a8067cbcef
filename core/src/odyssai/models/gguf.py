"""Import a Llama-family GGUF file as an MLX model directory that ``mlx_lm.load`` reads.

``import_gguf`` checks everything it can before writing anything (architecture, tensor types,
tensor names, tokenizer), then writes into a hidden ``.<name>.partial`` directory beside the target
and renames it into place, so a failed or interrupted import never leaves a half model behind.

What it writes: ``config.json`` (mlx-lm's ``llama`` model with a ``quantization`` entry),
``model.safetensors`` (or shards) plus ``model.safetensors.index.json``, ``tokenizer.json``,
``tokenizer_config.json`` (with the chat template) and ``generation_config.json``.
Nothing is re-rounded: quantized tensors stay quantized (Q4_0/Q4_1 -> MLX 4-bit, Q8_0 -> 8-bit,
group size 32, bit-exact), F32/F16/BF16 tensors keep their dtype. llama.cpp files keep norms in
F32, so mlx-lm computes in float32 like llama.cpp does (``torch_dtype`` in config.json names the
dtype of the bulk of the weights: float16 when anything is quantized or F16).
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import OdyssaiError
from ..names import check_model_name
from . import llama_layout as layout
from . import quants
from .errors import ModelExists, UnsupportedGGUF
from .gguf_file import GGUFFile, TensorInfo, type_name
from .safetensors_out import DEFAULT_SHARD_BYTES, OutTensor, plan_shards, write_shards
from .tokenizer import tokenizer_config, tokenizer_json

#: ``progress(done, total, what)``: bytes of GGUF tensor data converted so far, of the total
Progress = Callable[[int, int, str], None]


@dataclass
class _Source:
    """One GGUF tensor and what it becomes."""

    info: TensorInfo
    mlx_name: str
    rows_order: np.ndarray | None  # undoes llama.cpp's Q/K permutation
    outputs: list[OutTensor] = field(default_factory=list)


@dataclass
class ImportPlan:
    """Everything decided before a byte of weights is written."""

    config: dict[str, Any]
    tokenizer_json: str
    tokenizer_config: dict[str, Any]
    generation_config: dict[str, Any]
    sources: list[_Source]

    @property
    def total_bytes(self) -> int:
        return sum(s.info.nbytes for s in self.sources)


def default_name(gguf_path: Path) -> str:
    """The model name an import gets unless told otherwise: the file name without ``.gguf``."""
    stem = gguf_path.name[:-5] if gguf_path.name.lower().endswith(".gguf") else gguf_path.name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip(".-") or "model"


def import_gguf(gguf_path: str | Path, models_dir: str | Path, name: str | None = None,
                progress: Progress | None = None, *, overwrite: bool = False,
                max_shard_bytes: int = DEFAULT_SHARD_BYTES) -> Path:
    """Turn a Llama GGUF into the MLX model directory ``models_dir/<name>`` and return its path.

    :param gguf_path: the ``.gguf`` file
    :param models_dir: where models live; created if missing
    :param name: the model's name (``name`` or ``org/name``); default: the file name without
        ``.gguf``
    :param progress: called as ``progress(done, total, what)`` with bytes of tensor data
    :param overwrite: replace an existing model of that name instead of refusing
    :param max_shard_bytes: the largest safetensors file to write before starting another
    :raises UnsupportedGGUF: an architecture, tensor type or tokenizer this cannot import
    :raises BadGGUF: the file is not a readable GGUF
    :raises ModelExists: the model is already there and ``overwrite`` is false
    """
    gguf_path, models_dir = Path(gguf_path).expanduser(), Path(models_dir).expanduser()
    name = name or default_name(gguf_path)
    try:
        check_model_name(name)
    except ValueError as e:
        raise OdyssaiError(str(e), param="name") from None
    target = models_dir / name
    if target.exists() and not overwrite:
        raise ModelExists(f"model {name!r} already exists at {target}",
                          hint="pick another --name, or remove it first")
    report = progress or (lambda done, total, what: None)
    with GGUFFile(gguf_path) as f:
        report(0, 0, f"reading {gguf_path.name}")
        plan = plan_import(f)
        partial = target.parent / f".{target.name}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        try:
            _write(f, plan, partial, report, max_shard_bytes)
            if target.exists():
                shutil.rmtree(target)
            partial.rename(target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    report(plan.total_bytes, plan.total_bytes, f"imported {name}")
    return target


def plan_import(f: GGUFFile) -> ImportPlan:
    """Check the file and decide every output; raises UnsupportedGGUF naming what it cannot take."""
    md, tensors = f.metadata, f.tensors
    layout.llama_config(md, set(tensors), None, "float16")  # the architecture check comes first
    _check_types(tensors)
    sources = sorted((s for s in (_source(info, md) for info in tensors.values()) if s is not None),
                     key=_layer_order)
    dtype = _model_dtype(tensors)
    rope = tensors.get("rope_freqs.weight")
    rope_factors = quants.convert(f.raw(rope), rope.ggml_type, rope.shape).data if rope else None
    config = layout.llama_config(md, set(tensors), rope_factors, dtype)
    _check_shapes(config, tensors)
    config["vocab_size"] = tensors["token_embd.weight"].shape[0]
    layers: dict[str, tuple[int, int] | None] = {}
    for s in sources:
        _plan_outputs(f, s)
        if s.mlx_name.endswith(".weight") and len(s.info.shape) == 2:
            bits = quants.QUANTIZED_BITS.get(s.info.ggml_type)
            layers[s.mlx_name[:-len(".weight")]] = (bits, quants.GROUP_SIZE) if bits else None
    if q := layout.quantization_config(layers):
        config["quantization"] = q
        config["quantization_config"] = q
    eos = layout.eos_token_ids(md)
    if eos:
        config["eos_token_id"] = eos[0] if len(eos) == 1 else eos
    config["odyssai"] = {"imported_from": Path(f.path).name,
                         "gguf_tensor_types": dict(Counter(t.type_name for t in tensors.values()))}
    generation = {k: config[k] for k in ("bos_token_id", "eos_token_id") if k in config}
    return ImportPlan(config, tokenizer_json(md), tokenizer_config(md), generation, sources)


def _check_types(tensors: dict[str, TensorInfo]) -> None:
    bad: dict[str, list[str]] = {}
    for t in tensors.values():
        if t.ggml_type not in quants.SUPPORTED:
            bad.setdefault(type_name(t.ggml_type), []).append(t.name)
    if bad:
        parts = [f"{k} ({len(v)} tensor{'s' * (len(v) > 1)}, e.g. {v[0]})" for k, v in sorted(bad.items())]
        raise UnsupportedGGUF(
            f"tensor type{'s' * (len(bad) > 1)} {', '.join(parts)} "
            f"{'are' if len(bad) > 1 else 'is'} not supported",
            hint="supported: F32, F16, BF16, Q4_0, Q4_1, Q8_0; re-quantize the GGUF to one of them")
    for t in tensors.values():
        if t.ggml_type in quants.QUANTIZED_BITS and t.shape[-1] % quants.GROUP_SIZE:
            raise UnsupportedGGUF(f"tensor {t.name} has rows of {t.shape[-1]} values, not whole blocks")


def _source(info: TensorInfo, md: dict[str, Any]) -> _Source | None:
    if info.name in layout.CONFIG_TENSORS:
        return None
    name = layout.mlx_name(info.name)
    n_head = int(md.get("llama.attention.head_count", 0))
    heads = layout.rope_heads(info.name, n_head, int(md.get("llama.attention.head_count_kv", n_head)))
    order = layout.unpermute_rows(info.shape[0], heads) if heads else None
    return _Source(info, name, order)


def _layer_order(s: _Source) -> tuple[int, str]:
    """Shared tensors first, then layer by layer: a pipeline rank's layers sit in few shards."""
    m = re.match(r"model\.layers\.(\d+)\.", s.mlx_name)
    return (int(m.group(1)) if m else -1, s.mlx_name)


def _model_dtype(tensors: dict[str, TensorInfo]) -> str:
    types = {t.ggml_type for t in tensors.values()}
    if quants.BF16 in types:
        return "bfloat16"
    if types & ({quants.F16} | set(quants.QUANTIZED_BITS)):
        return "float16"
    return "float32"


def _check_shapes(config: dict[str, Any], tensors: dict[str, TensorInfo]) -> None:
    if "token_embd.weight" not in tensors:
        raise UnsupportedGGUF("the GGUF has no token_embd.weight")
    hd, hidden = config["head_dim"], config["hidden_size"]
    want = {"blk.0.attn_q.weight": (config["num_attention_heads"] * hd, hidden),
            "blk.0.attn_k.weight": (config["num_key_value_heads"] * hd, hidden),
            "token_embd.weight": (tensors["token_embd.weight"].shape[0], hidden)}  # width only
    for n, shape in want.items():
        if n in tensors and tensors[n].shape != shape:
            raise UnsupportedGGUF(f"tensor {n} is {list(tensors[n].shape)}, the metadata implies {list(shape)}")
    missing = [f"blk.{i}" for i in range(config["num_hidden_layers"]) if f"blk.{i}.attn_q.weight" not in tensors]
    if missing:
        raise UnsupportedGGUF(f"the GGUF lacks layer(s) {', '.join(missing[:3])} its metadata announces")


def _plan_outputs(f: GGUFFile, s: _Source) -> None:
    info, base = s.info, s.mlx_name
    bits = quants.QUANTIZED_BITS.get(info.ggml_type)
    if bits:
        rows, cols = info.shape[:-1], info.shape[-1]
        module = base[:-len(".weight")] if base.endswith(".weight") else base
        s.outputs = [OutTensor(f"{module}.weight", "U32", (*rows, cols * bits // 32)),
                     OutTensor(f"{module}.scales", "F16", (*rows, cols // quants.GROUP_SIZE)),
                     OutTensor(f"{module}.biases", "F16", (*rows, cols // quants.GROUP_SIZE))]
        return
    s.outputs = [OutTensor(base, quants.convert(f.raw(info), info.ggml_type, info.shape).dtype, info.shape)]


def _convert(f: GGUFFile, s: _Source) -> list[np.ndarray]:
    """The arrays of ``s.outputs``, in order, with Q/K rows put back in HF's order."""
    t = quants.convert(f.raw(s.info), s.info.ggml_type, s.info.shape)
    if isinstance(t, quants.Quantized):
        arrays = [t.weight, t.scales, t.biases]
    else:
        arrays = [t.data]
    if s.rows_order is not None:
        arrays = [a[s.rows_order] for a in arrays]
    return arrays


def _write(f: GGUFFile, plan: ImportPlan, out: Path, report: Progress, max_shard_bytes: int) -> None:
    (out / "config.json").write_text(json.dumps(plan.config, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(plan.generation_config, indent=2) + "\n")
    (out / "tokenizer.json").write_text(plan.tokenizer_json, encoding="utf-8")
    (out / "tokenizer_config.json").write_text(
        json.dumps(plan.tokenizer_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    owner = {o.name: s for s in plan.sources for o in s.outputs}
    total, done = plan.total_bytes, 0
    current: tuple[_Source | None, dict[str, np.ndarray]] = (None, {})

    def produce(o: OutTensor) -> np.ndarray:
        nonlocal current, done
        s = owner[o.name]
        if current[0] is not s:
            if current[0] is not None:
                done += current[0].info.nbytes
                report(done, total, current[0].info.name)
            current = (s, dict(zip((x.name for x in s.outputs), _convert(f, s))))
        return current[1][o.name]

    outputs = [o for s in plan.sources for o in s.outputs]
    write_shards(out, plan_shards(outputs, max_shard_bytes), produce)
