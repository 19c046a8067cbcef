"""ggml tensor blocks -> MLX arrays, without losing precision.

Q4_0, Q4_1 and Q8_0 are affine quantizations over groups of 32 values, the same family as MLX's
``mx.quantize(..., mode="affine")``: ``value = scale * q + bias`` with ``q`` unsigned. So each maps
onto an MLX ``(weight, scales, biases)`` triple exactly (the same triples ``mx.load`` returns for a
GGUF):

- Q4_0: ``d * (q - 8)``           -> 4 bits, scale ``d``, bias ``-8 d``
- Q4_1: ``d * q + m``             -> 4 bits, scale ``d``, bias ``m``
- Q8_0: ``d * q`` (q signed int8) -> 8 bits, scale ``d``, bias ``-128 d``, q shifted by 128

ggml stores a Q4 block's 32 nibbles as "low nibbles are values 0-15, high nibbles 16-31"; MLX
packs values in order, eight per uint32, lowest bits first. F32, F16 and BF16 pass through; BF16
stays BF16 (numpy has no bfloat16, so its bits travel as uint16 tagged ``BF16``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GROUP_SIZE = 32
Q4_0, Q4_1, Q8_0, F32, F16, BF16 = 2, 3, 8, 0, 1, 30
QUANTIZED_BITS = {Q4_0: 4, Q4_1: 4, Q8_0: 8}
SUPPORTED = {F32, F16, BF16, Q4_0, Q4_1, Q8_0}


@dataclass
class Dense:
    """An unquantized tensor. ``dtype`` is its safetensors dtype: F32, F16 or BF16."""

    data: np.ndarray
    dtype: str


@dataclass
class Quantized:
    """An MLX affine-quantized tensor: packed ``weight`` (uint32), ``scales`` and ``biases`` (f16)."""

    weight: np.ndarray
    scales: np.ndarray
    biases: np.ndarray
    bits: int
    group_size: int = GROUP_SIZE


def convert(raw: np.ndarray, ggml_type: int, shape: tuple[int, ...]) -> Dense | Quantized:
    """The MLX form of a tensor's raw GGUF bytes. ``shape`` is row-major (numpy order)."""
    if ggml_type == F32:
        return Dense(raw.view("<f4").reshape(shape), "F32")
    if ggml_type == F16:
        return Dense(raw.view("<f2").reshape(shape), "F16")
    if ggml_type == BF16:
        return Dense(raw.view("<u2").reshape(shape), "BF16")
    if ggml_type not in QUANTIZED_BITS:
        raise ValueError(f"ggml type {ggml_type} is not one this module converts")
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    if cols % GROUP_SIZE:
        raise ValueError(f"a quantized row of {cols} values is not a whole number of blocks")
    groups = cols // GROUP_SIZE
    block_bytes = {Q4_0: 18, Q4_1: 20, Q8_0: 34}[ggml_type]
    blocks = raw.reshape(rows, groups, block_bytes)
    d = blocks[..., 0:2].copy().view("<f2")[..., 0]
    if ggml_type == Q8_0:
        q = (blocks[..., 2:].view(np.int8).astype(np.int16) + 128).astype(np.uint8)
        packed = q.reshape(rows, cols)
        bias = (-128.0 * d.astype(np.float32)).astype(np.float16)
    else:
        qs = blocks[..., 4:] if ggml_type == Q4_1 else blocks[..., 2:]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # values 0..31 of each block, in order
        packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8).reshape(rows, cols // 2)
        if ggml_type == Q4_1:
            bias = blocks[..., 2:4].copy().view("<f2")[..., 0]
        else:
            bias = (-8.0 * d.astype(np.float32)).astype(np.float16)
    out_shape = (*shape[:-1],)
    weight = np.ascontiguousarray(packed).view("<u4").reshape(*out_shape, -1)
    return Quantized(weight, d.reshape(*out_shape, groups).astype("<f2"),
                     bias.reshape(*out_shape, groups).astype("<f2"), QUANTIZED_BITS[ggml_type])

