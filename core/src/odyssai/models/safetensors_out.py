"""Writing MLX weights as safetensors shards plus ``model.safetensors.index.json``, one tensor at
a time, so the largest thing in memory is one converted tensor.

The layout is planned before any data is converted (every output's dtype and shape follows from
the GGUF's tensor table), so each shard's header is written first and its tensors streamed after
it. One shard is ``model.safetensors``; more are ``model-00001-of-0000N.safetensors``, as
mlx-lm names them. The index is always written: pipeline sharding reads its ``weight_map``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

import numpy as np

INDEX = "model.safetensors.index.json"
_ITEMSIZE = {"F32": 4, "F16": 2, "BF16": 2, "U32": 4}
DEFAULT_SHARD_BYTES = 5 << 30


@dataclass(frozen=True)
class OutTensor:
    """One tensor of the output: its name, safetensors dtype and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return prod(self.shape) * _ITEMSIZE[self.dtype]


def plan_shards(tensors: Iterable[OutTensor], max_bytes: int = DEFAULT_SHARD_BYTES) -> list[list[OutTensor]]:
    """Split ``tensors`` (in order) into shards of at most ``max_bytes`` (a bigger tensor gets a
    shard of its own)."""
    shards: list[list[OutTensor]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return shards if shards[0] else []


def shard_names(n: int) -> list[str]:
    if n == 1:
        return ["model.safetensors"]
    return [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]


def _header(shard: list[OutTensor]) -> bytes:
    meta: dict[str, object] = {"__metadata__": {"format": "mlx"}}
    offset = 0
    for t in shard:
        meta[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    raw = json.dumps(meta, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # keep the data 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def write_shards(directory: Path, shards: list[list[OutTensor]],
                 produce: Callable[[OutTensor], np.ndarray]) -> dict[str, str]:
    """Write every shard under ``directory``, asking ``produce(t)`` for each tensor's data in plan
    order, then the index; returns the weight map (tensor name -> file)."""
    weight_map: dict[str, str] = {}
    for shard, fname in zip(shards, shard_names(len(shards))):
        with open(directory / fname, "wb") as fh:
            fh.write(_header(shard))
            for t in shard:
                _write_tensor(fh, t, produce(t))
                weight_map[t.name] = fname
    total = sum(t.nbytes for shard in shards for t in shard)
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (directory / INDEX).write_text(json.dumps(index, indent=2) + "\n")
    return weight_map


def _write_tensor(fh: BinaryIO, t: OutTensor, data: np.ndarray) -> None:
    if tuple(data.shape) != t.shape or data.dtype.itemsize != _ITEMSIZE[t.dtype]:
        raise AssertionError(f"{t.name}: planned {t.dtype}{list(t.shape)}, got {data.dtype}{list(data.shape)}")
    fh.write(np.ascontiguousarray(data).data)
