"""Loading one rank's part of a pipelined model (runner side; imports MLX).

1. The rank's layer range comes from the plan (or, with no plan, mlx-lm's even split).
2. The files it needs come from ``model.safetensors.index.json`` (``weights.files_for_layers``);
   each must be on this node, the others need not be.
3. mlx-lm's ``load_model(lazy=True, strict=False)`` builds the model from a view of the model
   directory that shows only those safetensors files (symlinks in a temporary directory), so no
   other weight file is opened — quantization, ``sanitize`` and remote code work as usual.
   ``strict=False`` is needed (the other ranks' layers are not there), so this module checks
   what a strict load would for this rank's part (``CheckedLoad``): every tensor read has the
   shape the model built from config.json expects (else MLX's own "Expected shape … but
   received shape … for parameter …", which the runner reports naming rank, tensor and both
   shapes), and every parameter of this rank's layers and of the shared part was read.
4. The pipeline is set up: ``model.model.pipeline(group, split)`` for ``PipelineMixin`` models,
   a ``stage.PipelineStage`` in place of ``model.model`` for the families this plugin pipelines.
   Either way the model then runs exactly the plan's layers (checked).
5. The local parameters are evaluated layer by layer, reporting progress.
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Collection, Iterator

from odyssai.sharding import LoadReport, Progress, ShardPlan

from .families import OWN_FAMILIES, config_num_layers, module_name
from .split import SplitError, counts_of, describe, even_counts, ranges_of
from .weights import all_weight_files, files_for_layers, layer_of, missing_layers, read_weight_map


class PipelineLoadError(ValueError):
    """A rank cannot load its part; the message says which part and why."""


def rank_ranges(plan: ShardPlan, num_layers: int, n_ranks: int) -> list[tuple[int, int]]:
    """Every rank's layer range: the plan's, or mlx-lm's even split when the plan has none."""
    if not plan.ranks or any("layers" not in r for r in plan.ranks):
        return ranges_of(even_counts(num_layers, n_ranks))
    if len(plan.ranks) != n_ranks:
        raise PipelineLoadError(f"the plan has {len(plan.ranks)} ranks, the group {n_ranks}")
    ranges = [(int(r["layers"][0]), int(r["layers"][1])) for r in plan.ranks]
    try:
        counts_of(ranges, num_layers)
    except SplitError as e:
        raise PipelineLoadError(str(e)) from None
    return ranges


def files_to_read(model_path: Path, start: int, end: int, num_layers: int,
                  whole: bool) -> tuple[list[str], dict[str, str] | None]:
    """The safetensors files this rank reads (relative names) and the weight map, if any."""
    weight_map = read_weight_map(model_path)
    if whole or weight_map is None:
        files = all_weight_files(model_path)
        if weight_map is None and not whole and len(files) > 1:
            raise PipelineLoadError(f"{model_path.name} has {len(files)} weight files but no "
                                    "model.safetensors.index.json: cannot tell which layers each holds")
    else:
        if missing := missing_layers(weight_map, num_layers):
            raise PipelineLoadError(f"the checkpoint has no weights for layers {missing}: "
                                    "convert the model with mlx_lm.convert first")
        files = files_for_layers(weight_map, start, end)
    absent = [f for f in files if not (model_path / f).is_file()]
    if absent:
        raise PipelineLoadError(f"{describe(start, end)} need {', '.join(absent)}, "
                                f"which {'is' if len(absent) == 1 else 'are'} not in {model_path}")
    if not files:
        raise PipelineLoadError(f"no weight files (model*.safetensors) in {model_path}")
    return files, weight_map


@contextmanager
def weights_view(model_path: Path, files: list[str]) -> Iterator[Path]:
    """A directory that looks like ``model_path`` but shows only the weight ``files``."""
    keep = set(files)
    with tempfile.TemporaryDirectory(prefix="odyssai-pipeline-") as tmp:
        view = Path(tmp) / model_path.name
        view.mkdir()
        for entry in model_path.iterdir():
            is_weights = entry.name.startswith("model") and entry.name.endswith(".safetensors")
            if not is_weights or entry.name in keep:
                os.symlink(entry.resolve(), view / entry.name)
        yield view


def check_local_weights(model: Any, names: Collection[str], start: int, end: int) -> None:
    """Every parameter of the shared part and of layers ``start..end-1`` (by the model's own,
    global layer numbers: call before the pipeline is set up) must be among the tensor
    ``names`` read, as a strict load would demand."""
    from mlx.utils import tree_flatten

    missing = []
    for name, _ in tree_flatten(model.parameters()):
        layer = layer_of(name)
        if (layer is None or start <= layer < end) and name not in names:
            missing.append(name)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise PipelineLoadError(f"the checkpoint has no tensor {', '.join(missing[:3])}{more} "
                                f"({describe(start, end)} need them)")


def check_shapes(model: Any, weights: list[tuple[str, Any]]) -> None:
    """Each tensor read must have the shape of the model's parameter of that name (MLX's
    strict-load wording, which ``odyssai.runner.loading.describe_load_error`` recognizes)."""
    from mlx.utils import tree_flatten

    expected = dict(tree_flatten(model.parameters()))
    for name, value in weights:
        have = expected.get(name)
        if have is not None and tuple(have.shape) != tuple(value.shape):
            raise ValueError(f"Expected shape {tuple(have.shape)} but received shape "
                             f"{tuple(value.shape)} for parameter {name}")


class CheckedLoad:
    """mlx-lm's model classes for ``load_model(get_model_classes=...)``, with the model's
    ``load_weights`` checking shapes and remembering which tensors were read (``loaded``).
    mlx-lm itself is not patched: only the model instance built here is."""

    def __init__(self) -> None:
        self.loaded: set[str] = set()

    def classes(self, config: dict[str, Any]) -> tuple[Any, Any]:
        from mlx_lm.utils import _get_classes

        model_class, args_class = _get_classes(config)
        loaded = self.loaded

        def build(args: Any) -> Any:
            model = model_class(args)
            load_weights = model.load_weights

            def checked(weights: Any, strict: bool = True) -> Any:
                if isinstance(weights, str):
                    import mlx.core as mx

                    weights = list(mx.load(weights).items())
                weights = list(weights)
                check_shapes(model, weights)
                loaded.update(name for name, _ in weights)
                return load_weights(weights, strict=strict)

            model.load_weights = checked
            return model

        return build, args_class


def eval_local(model: Any, progress: Progress, start: int) -> None:
    """Materialize this rank's layers one by one, then the shared part."""
    from odyssai.runner.loading import eval_parameters

    eval_parameters(model, progress, lambda i, n: f"layer {start + i} ({i + 1}/{n} on this rank)",
                    rest="embeddings, norm and head")


def load_pipeline(model_path: Any, group: Any, plan: ShardPlan, rank: int,
                  progress: Progress) -> tuple[Any, LoadReport]:
    from mlx_lm.utils import load_model

    path = Path(model_path)
    config = json.loads((path / "config.json").read_text())
    size = group.size() if group is not None else 1
    if group is not None and group.rank() != rank:
        raise PipelineLoadError(f"this process is rank {group.rank()} of the group, not {rank}")
    num_layers = config_num_layers(config)
    if not num_layers:
        raise PipelineLoadError("config.json has no num_hidden_layers: cannot split by layers")
    ranges = rank_ranges(plan, num_layers, size)
    start, end = ranges[rank]
    files, _ = files_to_read(path, start, end, num_layers, whole=size == 1)

    with weights_view(path, files) as view:
        checked = CheckedLoad()
        model, _ = load_model(view, lazy=True, strict=size == 1, get_model_classes=checked.classes)
        inner = getattr(model, "model", None)
        if inner is None or len(getattr(inner, "layers", [])) != num_layers:
            raise PipelineLoadError(f"{type(model).__module__}.Model has no inner module with "
                                    f"{num_layers} layers: it cannot be pipelined")
        if size > 1:
            check_local_weights(model, checked.loaded, start, end)
            if callable(getattr(inner, "pipeline", None)):
                split = counts_of(ranges, num_layers)
                if "split" in inspect.signature(inner.pipeline).parameters:
                    inner.pipeline(group, split)
                elif split == even_counts(num_layers, size):
                    inner.pipeline(group)
                else:
                    raise PipelineLoadError("this mlx-lm's pipeline() takes no split: only the even "
                                            f"split {even_counts(num_layers, size)} can run, not {split}")
                runs = (inner.start_idx, inner.end_idx)
            elif module_name(type(model)) in OWN_FAMILIES:
                from .stage import PipelineStage

                model.model = PipelineStage(inner, start, end, group)
                runs = (start, end)
            else:
                raise PipelineLoadError(f"{type(model).__module__} has no PipelineMixin and is not "
                                        f"a family this plugin pipelines ({', '.join(OWN_FAMILIES)})")
            if runs != (start, end):
                raise PipelineLoadError(f"rank {rank} runs layers {runs}, the plan says {(start, end)}")
        eval_local(model, progress, start)
    return model, LoadReport(files=files)
