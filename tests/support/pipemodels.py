"""Tiny models laid out for pipeline tests, and the generation both sides of a comparison run.

``tinymodels`` writes the models; ``split_by_layer`` rewrites a model's weights as one file for
the embeddings, one per layer and one for the final norm and head, so that which files a rank
reads says exactly which layers it loaded. ``node_copy`` makes the model directory one node
would have if it held only the files it needs. ``generate_batch`` drives mlx-lm's
``BatchGenerator`` the way the runner does (several sequences, joining at different steps,
chunked prefill) and returns every token and every logprob vector; ``unsharded_tokens`` is
what mlx-lm's own ``generate_step`` makes of one prompt, for comparing with the runner.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from support.tinymodels import TinyModel

#: the sequences ``generate_batch`` runs: (prompt token ids, max_tokens, step it joins at)
SEQUENCES: list[tuple[list[int], int, int]] = [
    ([17, 92, 140, 33, 250, 61, 205], 6, 0),
    ([5, 300, 77], 8, 0),
    ([120, 44, 199, 8, 311], 5, 2),
]


def split_by_layer(model: TinyModel) -> tuple[str, ...]:
    """Rewrite ``model``'s weights: file 1 embeddings, files 2..L+1 layer 0..L-1, last file the
    final norm and head. Returns the file names in that order."""
    import mlx.core as mx

    path = model.path
    old = sorted(path.glob("model*.safetensors"))
    tensors: dict[str, Any] = {}
    for f in old:
        tensors.update(mx.load(str(f)))
    n_layers = int(model.config["num_hidden_layers"])
    n_files = n_layers + 2
    names = [f"model-{i + 1:05d}-of-{n_files:05d}.safetensors" for i in range(n_files)]

    def file_of(tensor: str) -> int:
        parts = tensor.split(".")
        if "layers" in parts:
            return 1 + int(parts[parts.index("layers") + 1])
        return 0 if "embed" in tensor else n_files - 1

    shards: list[dict[str, Any]] = [{} for _ in names]
    for name, value in tensors.items():
        shards[file_of(name)][name] = value
    mx.eval(list(tensors.values()))
    for f in old:
        f.unlink()
    for fname, shard in zip(names, shards):
        mx.save_safetensors(str(path / fname), shard, metadata={"format": "mlx"})
    index = {"metadata": {"total_size": sum(v.nbytes for v in tensors.values())},
             "weight_map": {t: names[file_of(t)] for t in sorted(tensors)}}
    (path / "model.safetensors.index.json").write_text(json.dumps(index, indent=1))
    return tuple(names)


def node_copy(model_path: Path, models_dir: Path, files: list[str], name: str | None = None) -> Path:
    """``models_dir/<name>``: the model as a node holding only the weight ``files`` has it
    (``name``: the model's directory name on the node, by default the one it has here)."""
    dest = Path(models_dir) / (name or model_path.name)
    dest.mkdir(parents=True, exist_ok=True)
    for entry in model_path.iterdir():
        weights = entry.name.endswith(".safetensors")
        if not weights or entry.name in files:
            shutil.copy2(entry, dest / entry.name)
    return dest


def generate_batch(model: Any, sequences: list[tuple[list[int], int, int]] = SEQUENCES,
                   prefill_step_size: int = 4) -> dict[str, Any]:
    """Greedy tokens and logprobs of ``sequences`` through one ``BatchGenerator``.

    Returns ``{"tokens": [[...] per sequence], "logprobs": [[[...vocab] per token] per sequence]}``.
    """
    import mlx.core as mx
    from mlx_lm.generate import BatchGenerator

    stream = mx.default_stream(mx.default_device())
    gen = BatchGenerator(model, completion_batch_size=4, prefill_batch_size=2,
                         prefill_step_size=prefill_step_size, stream=stream)
    tokens: dict[int, list[int]] = {}
    logprobs: dict[int, list[list[float]]] = {}
    order: list[int] = []
    step, done = 0, 0
    with mx.stream(stream):
        while done < len(sequences):
            for prompt, max_tokens, join in sequences:
                if join == step:
                    (uid,) = gen.insert([prompt], max_tokens=[max_tokens])
                    order.append(uid)
                    tokens[uid], logprobs[uid] = [], []
            _, responses = gen.next()
            for r in responses:
                tokens[r.uid].append(int(r.token))
                logprobs[r.uid].append(r.logprobs.tolist())
                done += r.finish_reason is not None
            step += 1
            if step > 200:
                raise RuntimeError("generation did not finish")
    gen.close()
    return {"tokens": [tokens[u] for u in order], "logprobs": [logprobs[u] for u in order]}


def unsharded_tokens(model_path: Path, prompt: str, max_tokens: int) -> list[int]:
    """Greedy tokens of the whole model in this process, the prompt tokenized as the runner does."""
    import mlx.core as mx
    from mlx_lm.generate import generate_step
    from mlx_lm.utils import load_model
    from odyssai.runner.loading import load_tokenizer

    model, _ = load_model(Path(model_path))
    ids = load_tokenizer(model_path).encode(prompt)
    return [int(t) for t, _ in generate_step(mx.array(ids), model, max_tokens=max_tokens)]


def layer_parameters(model_path: Path) -> dict[int, int]:
    """Parameters (elements) of each decoder layer of the unsharded model, by layer number."""
    from mlx.utils import tree_flatten
    from mlx_lm.utils import load_model

    from odyssai_shard_pipeline.weights import layer_of

    model, _ = load_model(Path(model_path), lazy=True)
    out: dict[int, int] = {}
    for name, value in tree_flatten(model.parameters()):
        if (layer := layer_of(name)) is not None:
            out[layer] = out.get(layer, 0) + int(value.size)
    return out
