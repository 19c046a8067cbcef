"""Which safetensors files a pipeline rank reads: pure functions over the weight index.

As mlx-lm's ``sharded_load`` does: a tensor named ``….layers.<i>.…`` belongs to layer i; every
other tensor (embeddings, final norm, head) goes to every rank. A rank reads the files that hold
a tensor of its layers or a shared tensor, and no other. Names are matched by layer number
because ``sanitize`` may rename tensors (e.g. stack experts) after loading.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping

INDEX = "model.safetensors.index.json"
_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def layer_of(tensor: str) -> int | None:
    """The layer a checkpoint tensor belongs to, or None for shared tensors."""
    m = _LAYER.search(tensor)
    return int(m.group(1)) if m else None


def files_for_layers(weight_map: Mapping[str, str], start: int, end: int) -> list[str]:
    """The files a rank running layers ``start..end-1`` reads (its layers' and the shared ones)."""
    files = set()
    for tensor, file in weight_map.items():
        layer = layer_of(tensor)
        if layer is None or start <= layer < end:
            files.add(file)
    return sorted(files)


def missing_layers(weight_map: Mapping[str, str], num_layers: int) -> list[int]:
    """Model layers the checkpoint has no tensor for (then it needs converting first)."""
    have = {layer for t in weight_map if (layer := layer_of(t)) is not None}
    return sorted(set(range(num_layers)) - have)


def read_weight_map(model_path: str | Path) -> dict[str, str] | None:
    """``weight_map`` of the model's index, or None when the model has no index file."""
    path = Path(model_path) / INDEX
    if not path.is_file():
        return None
    index = json.loads(path.read_text())
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise ValueError(f"{INDEX} has no weight_map")
    return {str(k): str(v) for k, v in weight_map.items()}


def all_weight_files(model_path: str | Path) -> list[str]:
    """Every safetensors file mlx-lm would read for the whole model."""
    return sorted(p.name for p in Path(model_path).glob("model*.safetensors"))
