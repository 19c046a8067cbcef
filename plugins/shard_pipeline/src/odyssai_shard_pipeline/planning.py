"""The pipeline's plan: which node runs which layers. Pure: layer count and node memories in,
``ShardPlan`` out.

Even by default; when the nodes' memories differ, layers go in proportion to memory (total
memory as each runner's ``Hello`` read it, or the node's ``memory_bytes`` in topology.yaml;
free memory only when no total is known), at least one layer per rank. Rank 0 runs the last
layers (mlx-lm's convention, see ``split``). ``ShardPlan.ranks[r]``::

    {"node": "m1", "layers": [12, 24],   # half-open: layers 12..23
     "num_layers": 12, "memory_bytes": 137438953472}
"""

from __future__ import annotations

from odyssai.sharding import NodeResources, ShardPlan

from .split import describe, even_counts, proportional_counts, ranges_of

STRATEGY = "pipeline"


def memory_weights(nodes: list[NodeResources]) -> tuple[list[int], str] | None:
    """The memories to split by and which reading they are, or None for an even split
    (a node's memory unknown, or all the same)."""
    for attr in ("memory_bytes", "free_bytes"):
        values = [int(getattr(n, attr) or 0) for n in nodes]
        if all(v > 0 for v in values):
            return (values, attr) if len(set(values)) > 1 else None
    return None


def gib(n: int) -> str:
    value = n / 2**30
    return f"{value:.0f} GiB" if value >= 10 else f"{value:.2g} GiB"


def plan_layers(num_layers: int, nodes: list[NodeResources]) -> ShardPlan:
    """Split ``num_layers`` over ``nodes`` (in rank order). ``SplitError`` if it cannot."""
    weights = memory_weights(nodes)
    if weights is None:
        counts = even_counts(num_layers, len(nodes))
    else:
        counts = proportional_counts(num_layers, weights[0])
    ranges = ranges_of(counts)
    ranks = []
    for node, (start, end) in zip(nodes, ranges):
        entry = {"node": node.name, "layers": [start, end], "num_layers": end - start}
        if weights is not None:
            entry[weights[1]] = weights[0][len(ranks)]
        ranks.append(entry)
    by_layer = sorted(zip(nodes, ranges), key=lambda p: p[1][0])
    summary = f"{STRATEGY}: " + ", ".join(f"{n.name} {describe(s, e)}" for n, (s, e) in by_layer)
    if weights is not None:
        what = "memory" if weights[1] == "memory_bytes" else "free memory"
        summary += f" (split by {what}: " + ", ".join(f"{n.name} {gib(w)}"
                                                      for n, w in zip(nodes, weights[0])) + ")"
    return ShardPlan(STRATEGY, len(nodes), ranks, summary)
