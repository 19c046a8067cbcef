"""Loading a model on a rank: where it is, its weights with progress, the tokenizer, and load
errors a user can read (which rank, which tensor, which shapes).

``load_whole_model`` is the 'single' strategy's loader; the helpers (``weight_files``,
``eval_parameters``) are for every strategy's ``load``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

from ..sharding import LoadReport, LocalParameters, Progress


class ModelPathError(ValueError):
    """A model name that does not name a directory inside models_dir."""


def resolve_model(models_dir: str | Path, model: str) -> Path:
    """``models_dir/model``, refusing anything that would leave ``models_dir``."""
    if not model or model.startswith(("/", "~")) or "\\" in model or "\x00" in model:
        raise ModelPathError(f"model name {model!r} must be a path relative to the models directory")
    if any(part in ("..", "") for part in model.split("/")):
        raise ModelPathError(f"model name {model!r} must not contain '..' or empty parts")
    root = Path(models_dir).expanduser().resolve()
    # The name is checked lexically: it cannot climb out of models_dir. A symlink the node's
    # admin put inside models_dir (a model kept on another volume) is followed on purpose.
    return root / model


def weight_files(model_path: str | Path) -> list[str]:
    """The safetensors files mlx-lm reads for this model, relative to its directory."""
    return sorted(p.name for p in Path(model_path).glob("model*.safetensors"))


def eval_parameters(model: Any, progress: Progress, describe: Callable[[int, int], str] | None = None,
                    rest: str = "embeddings, norms and head") -> None:
    """Materialize the (lazy) parameters layer by layer, reporting each layer as done.

    ``describe(i, n)`` names layer ``i`` of the ``n`` this model holds in the progress text.
    """
    import mlx.core as mx

    layers = list(getattr(model, "layers", None) or [])
    total = len(layers) + 1
    for i, layer in enumerate(layers):
        mx.eval(layer.parameters())
        progress(i + 1, total, describe(i, len(layers)) if describe else f"layer {i + 1}/{len(layers)}")
    mx.eval(model.parameters())
    progress(total, total, rest)


_LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


def local_parameters(model: Any) -> LocalParameters:
    """Count what ``model`` holds on this rank, in its decoder layers (``….layers.<i>.…``) and
    in total: the figure that shows whether a split really happened."""
    from mlx.utils import tree_flatten

    out = LocalParameters()
    for name, value in tree_flatten(model.parameters()):
        size, nbytes = int(value.size), int(value.nbytes)
        out.parameters += size
        out.bytes += nbytes
        if _LAYER.search(name):
            out.layer_parameters += size
            out.layer_bytes += nbytes
    return out


def load_whole_model(model_path: str | Path, progress: Progress) -> tuple[Any, LoadReport]:
    """The whole model, every weight checked against the config (the 'single' strategy)."""
    from mlx_lm.utils import load_model

    model, _ = load_model(Path(model_path), lazy=True, strict=True)
    eval_parameters(model, progress)
    return model, LoadReport(files=weight_files(model_path))


def load_tokenizer(model_path: str | Path) -> Any:
    """mlx-lm's tokenizer wrapper, with the chat template and eos ids of the model directory."""
    from mlx_lm.utils import load_config
    from mlx_lm.utils import load_tokenizer as _load_tokenizer

    path = Path(model_path)
    return _load_tokenizer(path, eos_token_ids=load_config(path).get("eos_token_id"))


_SHAPE = re.compile(r"Expected shape \(([^)]*)\) but received shape \(([^)]*)\) for parameter (\S+)")


def _shape(text: str) -> str:
    dims = [d.strip() for d in text.split(",") if d.strip()]
    return "(" + ", ".join(dims) + ")"


def describe_load_error(exc: BaseException, rank: int) -> str:
    """One line saying what failed on which rank; shape mismatches name the tensor and both shapes."""
    text = str(exc)
    if m := _SHAPE.search(text):
        expected, received, name = _shape(m.group(1)), _shape(m.group(2)), m.group(3)
        return (f"rank {rank}: shape mismatch for tensor {name}: the weight files have {received}, "
                f"the model built from config.json expects {expected} "
                "(config.json does not match the weights, or the split does not fit them)")
    one_line = " ".join(text.split())
    if len(one_line) > 400:
        one_line = one_line[:400] + "…"
    if not one_line:
        one_line = type(exc).__name__
    elif isinstance(exc, (KeyError, AttributeError, TypeError, IndexError)):
        one_line = f"{type(exc).__name__}: {one_line}"
    return f"rank {rank}: {one_line}"
