"""Reading a GGUF file: its metadata, its tensor table, and one tensor's raw bytes at a time.

The file is memory-mapped, so a tensor is read only when asked for and a large model never has
to fit in memory at once. Nothing here interprets the values: names and types are reported as the
file spells them (``GGML_TYPE_NAMES`` turns a type id into llama.cpp's name for it).
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BadGGUF

#: llama.cpp's ggml type ids and names (``ggml.h``), for the error that names an unsupported one.
GGML_TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1",
    10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS",
    17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
    24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0",
    35: "TQ2_0", 39: "MXFP4",
}

#: (elements per block, bytes per block) of the types whose bytes this package reads.
BLOCK_SIZES = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34)}

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
           10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?",
          10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9


def type_name(ggml_type: int) -> str:
    """llama.cpp's name for a ggml type id (``Q4_0``), or ``type <id>`` for one it does not know."""
    return GGML_TYPE_NAMES.get(ggml_type, f"type {ggml_type}")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the file. ``shape`` is in row-major (numpy / MLX) order: GGUF's reversed."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int  # from the start of the data section

    @property
    def type_name(self) -> str:
        return type_name(self.ggml_type)

    @property
    def nbytes(self) -> int:
        """Bytes the tensor takes in the file; only for the types in ``BLOCK_SIZES``."""
        block, size = BLOCK_SIZES[self.ggml_type]
        return prod(self.shape) // block * size


class GGUFFile:
    """An open GGUF file: ``metadata`` (key -> value), ``tensors`` (name -> TensorInfo) and
    ``raw(info)`` for the bytes of one tensor. Use it as a context manager."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._fh = open(self.path, "rb")
        except OSError as e:
            raise BadGGUF(f"cannot open {self.path}: {e.strerror or e}") from None
        try:
            self._mm = mmap.mmap(self._fh.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            self._fh.close()
            raise BadGGUF(f"{self.path} is empty, not a GGUF file") from None
        try:
            self.version, self.metadata, self.tensors, self.data_start = _parse(self._mm)
        except BadGGUF as e:
            self.close()
            raise BadGGUF(f"{self.path}: {e}") from None
        except (struct.error, UnicodeDecodeError, ValueError, IndexError):
            self.close()
            raise BadGGUF(f"{self.path} is truncated or corrupt (its GGUF header does not parse)") from None

    def raw(self, info: TensorInfo) -> np.ndarray:
        """The tensor's bytes as a read-only uint8 view of the mapped file."""
        start = self.data_start + info.offset
        if start + info.nbytes > len(self._mm):
            raise BadGGUF(f"{self.path} is truncated: tensor {info.name} runs past the end of the file")
        return np.frombuffer(self._mm, dtype=np.uint8, count=info.nbytes, offset=start)

    def close(self) -> None:
        try:
            self._mm.close()
        except BufferError:  # a caller still holds a view; the map goes when the view does
            pass
        self._fh.close()

    def __enter__(self) -> GGUFFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Cursor:
    def __init__(self, buf: mmap.mmap):
        self.buf, self.pos = buf, 0

    def scalar(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.scalar("<Q")
        end = self.pos + n
        if end > len(self.buf):
            raise ValueError("string past the end of the file")
        s = self.buf[self.pos:end].decode("utf-8")
        self.pos = end
        return s

    def value(self, vtype: int) -> Any:
        if vtype in _SCALAR:
            return self.scalar(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, n = self.scalar("<I"), self.scalar("<Q")
            if etype in _NUMPY:
                arr = np.frombuffer(self.buf, dtype=_NUMPY[etype], count=n, offset=self.pos)
                self.pos += arr.nbytes
                return arr.tolist()
            return [self.value(etype) for _ in range(n)]
        raise BadGGUF(f"unknown metadata value type {vtype}")


def _parse(buf: mmap.mmap) -> tuple[int, dict[str, Any], dict[str, TensorInfo], int]:
    if buf[:4] != b"GGUF":
        raise BadGGUF("not a GGUF file (it does not start with the GGUF magic)")
    c = _Cursor(buf)
    c.pos = 4
    version = c.scalar("<I")
    if version not in (2, 3):
        raise BadGGUF(f"GGUF version {version} is not supported (only 2 and 3)")
    n_tensors, n_kv = c.scalar("<Q"), c.scalar("<Q")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = c.string()
        metadata[key] = c.value(c.scalar("<I"))
    tensors: dict[str, TensorInfo] = {}
    for _ in range(n_tensors):
        name = c.string()
        dims = [c.scalar("<Q") for _ in range(c.scalar("<I"))]
        ggml_type, offset = c.scalar("<I"), c.scalar("<Q")
        tensors[name] = TensorInfo(name, tuple(reversed(dims)), ggml_type, offset)
    align = int(metadata.get("general.alignment", 32))
    data_start = (c.pos + align - 1) // align * align
    return version, metadata, tensors, data_start
