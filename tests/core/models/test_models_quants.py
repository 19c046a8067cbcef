"""ggml blocks become MLX affine triples exactly: the same arrays mx.load returns, the same values
gguf-py dequantizes to."""

from __future__ import annotations

import gguf
import mlx.core as mx
import numpy as np
import pytest
from gguf import quants as gq

from odyssai.models import quants
from odyssai.models.gguf_file import GGUFFile

BITS = {"Q4_0": 4, "Q4_1": 4, "Q8_0": 8}


def _one_tensor_gguf(path, type_name, rows=16, cols=128):
    x = np.random.default_rng(3).standard_normal((rows, cols)).astype(np.float32)
    qt = gguf.GGMLQuantizationType[type_name]
    w = gguf.GGUFWriter(str(path), "llama")
    if type_name in ("F32", "F16"):
        w.add_tensor("t", x.astype(np.float16 if type_name == "F16" else np.float32))
    else:
        w.add_tensor("t", gq.quantize(x, qt), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _convert(path):
    with GGUFFile(path) as f:
        info = f.tensors["t"]
        return quants.convert(f.raw(info).copy(), info.ggml_type, info.shape)


@pytest.mark.parametrize("type_name", ["Q4_0", "Q4_1", "Q8_0"])
def test_quantized_blocks_become_the_triple_mx_load_returns(tmp_path, type_name):
    path = _one_tensor_gguf(tmp_path / "t.gguf", type_name)
    t = _convert(path)
    mine = {"t": t.weight, "t.scales": t.scales, "t.biases": t.biases}
    theirs = {k: np.array(v) for k, v in mx.load(str(path)).items()}
    assert {k: (v.dtype, v.shape) for k, v in mine.items()} == {k: (v.dtype, v.shape) for k, v in theirs.items()}
    assert all(np.array_equal(mine[k], theirs[k]) for k in mine)


@pytest.mark.parametrize("type_name", ["Q4_0", "Q4_1", "Q8_0"])
def test_quantized_blocks_dequantize_to_the_values_gguf_py_reads(tmp_path, type_name):
    path = _one_tensor_gguf(tmp_path / "t.gguf", type_name)
    t = _convert(path)
    assert t.bits == BITS[type_name] and t.group_size == 32
    got = mx.dequantize(mx.array(t.weight), mx.array(t.scales.astype(np.float32)),
                        mx.array(t.biases.astype(np.float32)), group_size=32, bits=t.bits)
    with GGUFFile(path) as f:
        want = gq.dequantize(f.raw(f.tensors["t"]).copy().reshape(16, -1), gguf.GGMLQuantizationType[type_name])
    np.testing.assert_array_equal(np.array(got), want)


@pytest.mark.parametrize("type_name, dtype", [("F32", "F32"), ("F16", "F16")])
def test_float_tensors_pass_through_unchanged(tmp_path, type_name, dtype):
    path = _one_tensor_gguf(tmp_path / "t.gguf", type_name)
    t = _convert(path)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.data, np.array(mx.load(str(path))["t"]))


def test_bf16_keeps_its_bits_tagged_bf16():
    raw = np.array([0x3F80, 0xC000], dtype="<u2").view(np.uint8)  # 1.0, -2.0 in bfloat16
    t = quants.convert(raw, quants.BF16, (2,))
    assert t.dtype == "BF16" and t.data.tolist() == [0x3F80, 0xC000]
