"""Reading a GGUF header: metadata, the tensor table in numpy order, and clear errors for bad files."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from odyssai.models.errors import BadGGUF
from odyssai.models.gguf_file import GGUFFile


def _write(path):
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_uint32("llama.block_count", 2)
    w.add_float32("llama.rope.freq_base", 10000.0)
    w.add_string("tokenizer.chat_template", "{{ x }}")
    w.add_token_list(["a", "b", "ab"])
    w.add_token_types([1, 1, 3])
    w.add_tensor("blk.0.attn_q.weight", np.arange(24, dtype=np.float32).reshape(4, 6))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_metadata_values_read_as_python_values(tmp_path):
    with GGUFFile(_write(tmp_path / "m.gguf")) as f:
        md = f.metadata
    assert (md["general.architecture"], md["llama.block_count"], md["llama.rope.freq_base"],
            md["tokenizer.chat_template"], md["tokenizer.ggml.tokens"], md["tokenizer.ggml.token_type"]) == (
        "llama", 2, 10000.0, "{{ x }}", ["a", "b", "ab"], [1, 1, 3])


def test_tensor_table_is_in_numpy_order_and_raw_bytes_are_the_tensor(tmp_path):
    with GGUFFile(_write(tmp_path / "m.gguf")) as f:
        info = f.tensors["blk.0.attn_q.weight"]
        data = f.raw(info).view("<f4").reshape(info.shape).copy()
    assert (info.shape, info.type_name) == ((4, 6), "F32")
    np.testing.assert_array_equal(data, np.arange(24, dtype=np.float32).reshape(4, 6))


def test_a_file_that_is_not_gguf_is_refused_saying_so(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf at all")
    with pytest.raises(BadGGUF, match="not a GGUF file"):
        GGUFFile(bad)


def test_a_truncated_gguf_is_refused_saying_so(tmp_path):
    good = _write(tmp_path / "m.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good[:60])
    with pytest.raises(BadGGUF, match="truncated or corrupt"):
        GGUFFile(cut)


def test_a_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(BadGGUF, match="cannot open"):
        GGUFFile(tmp_path / "nope.gguf")
