"""Splitting a model's layers over the ranks of a pipeline: pure functions over plain numbers.

The convention is mlx-lm's ``PipelineMixin.pipeline(group, split)``: ``split[r]`` is how many
layers rank r runs, and the split is *reversed* — the last rank runs the first layers and rank 0
the last ones (rank r runs the layers after those of ranks r+1 … N-1). Activations flow from
rank N-1 down to rank 0, and rank 0's final hidden state is shared with every rank. This plugin
uses the same convention for the families it pipelines itself, so a plan means the same thing
for every model.

Layer ranges are half-open ``(start, end)``, like mlx-lm's ``start_idx``/``end_idx``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence


class SplitError(ValueError):
    """Layers that cannot be split as asked (fewer layers than ranks, a bad range list)."""


def even_counts(num_layers: int, n_ranks: int) -> list[int]:
    """mlx-lm's default split: as even as possible, the low ranks (the last layers) get the extra."""
    _need(num_layers, n_ranks)
    base, extra = divmod(num_layers, n_ranks)
    return [base + (1 if r < extra else 0) for r in range(n_ranks)]


def proportional_counts(num_layers: int, weights: Sequence[int | float]) -> list[int]:
    """Layers per rank in proportion to ``weights`` (e.g. each node's memory), at least one each.

    Largest remainder on exact fractions; ties go to the lower rank, so equal weights give
    exactly ``even_counts``.
    """
    n = len(weights)
    _need(num_layers, n)
    if any(w <= 0 for w in weights):
        raise SplitError(f"every rank needs a positive weight, got {list(weights)}")
    total = sum(Fraction(w) for w in weights)
    ideal = [num_layers * Fraction(w) / total for w in weights]
    counts = [max(1, int(q)) for q in ideal]
    while sum(counts) > num_layers:  # the 1-layer floor took too many: give back where most over
        i = max((i for i in range(n) if counts[i] > 1), key=lambda i: (counts[i] - ideal[i], i))
        counts[i] -= 1
    while sum(counts) < num_layers:
        i = max(range(n), key=lambda i: (ideal[i] - counts[i], -i))
        counts[i] += 1
    return counts


def ranges_of(counts: Sequence[int]) -> list[tuple[int, int]]:
    """Each rank's ``(start, end)`` for layer counts by rank (rank 0 gets the last layers)."""
    out = []
    for r, c in enumerate(counts):
        start = sum(counts[r + 1:])
        out.append((start, start + c))
    return out


def counts_of(ranges: Sequence[Sequence[int]], num_layers: int) -> list[int]:
    """Back from ranges by rank to the ``split`` mlx-lm's ``pipeline`` takes, checking the ranges
    tile ``0..num_layers`` in the pipeline's order (rank N-1 first, rank 0 last)."""
    ranges = [(int(a), int(b)) for a, b in ranges]
    _need(num_layers, len(ranges))
    expected = ranges_of([b - a for a, b in ranges])
    if any(b <= a for a, b in ranges) or expected != ranges or ranges[0][1] != num_layers:
        want = ranges_of(even_counts(num_layers, len(ranges)))
        raise SplitError(f"layer ranges {ranges} do not split {num_layers} layers as a pipeline "
                         f"runs them (rank {len(ranges) - 1} first, rank 0 last, e.g. {want})")
    return [b - a for a, b in ranges]


def describe(start: int, end: int) -> str:
    """'layer 4' or 'layers 0-11' (inclusive, as users count)."""
    return f"layer {start}" if end - start == 1 else f"layers {start}-{end - 1}"


def _need(num_layers: int, n_ranks: int) -> None:
    if n_ranks < 1:
        raise SplitError(f"a pipeline needs at least 1 rank, not {n_ranks}")
    if num_layers < n_ranks:
        raise SplitError(f"{num_layers} layers cannot be split over {n_ranks} ranks: "
                         "every rank needs at least one layer")
