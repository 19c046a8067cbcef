"""The pipeline's plan: which node runs which layers. Pure: layer count and node memories in,
``ShardPlan`` out.

Even by default; when the nodes' memories differ, layers go in proportion to each node's
*free* memory — what the node can give the model now, as its runner read it at load time
(``Hello``, over SSH) — at least one layer per rank. A node's ``memory_bytes`` in topology.yaml
overrides its reading (``NodeResources.override_bytes``). When some node's free memory is
unknown, total memory is used; when that is unknown too, the split is even. Readings within
``SAME_WITHIN`` of each other count as equal (free memory jitters between readings; nodes of the
same kind get the even split). Rank 0 runs the last layers (mlx-lm's convention, see
``split``). ``ShardPlan.ranks[r]``::

    {"node": "m1", "layers": [12, 24],   # half-open: layers 12..23
     "num_layers": 12, "memory_bytes": 137438953472}

``memory_bytes`` (the amount the split used for that node) is there only for a split by memory.
"""

from __future__ import annotations

from odyssai.sharding import NodeResources, ShardPlan

from .split import describe, even_counts, proportional_counts, ranges_of

STRATEGY = "pipeline"
#: memories whose largest is at most this much above the smallest count as equal
SAME_WITHIN = 0.10


def memory_weights(nodes: list[NodeResources]) -> tuple[list[int], str] | None:
    """The memory to split by per node and what it is ('free memory', 'memory'), or None for
    an even split (a node's memory unknown, or all about the same)."""
    readings = [
        ([int(n.override_bytes or n.free_bytes or 0) for n in nodes],
         "memory" if all(n.override_bytes for n in nodes) else "free memory"),
        ([int(n.override_bytes or n.memory_bytes or 0) for n in nodes], "memory"),
    ]
    for values, what in readings:
        if all(v > 0 for v in values):
            return None if max(values) <= min(values) * (1 + SAME_WITHIN) else (values, what)
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
    for i, (node, (start, end)) in enumerate(zip(nodes, ranges)):
        entry = {"node": node.name, "layers": [start, end], "num_layers": end - start}
        if weights is not None:
            entry["memory_bytes"] = weights[0][i]
        ranks.append(entry)
    by_layer = sorted(zip(nodes, ranges), key=lambda p: p[1][0])
    summary = f"{STRATEGY}: " + ", ".join(f"{n.name} {describe(s, e)}" for n, (s, e) in by_layer)
    if weights is not None:
        summary += f" (split by {weights[1]}: " + ", ".join(f"{n.name} {gib(w)}"
                                                           for n, w in zip(nodes, weights[0])) + ")"
    return ShardPlan(STRATEGY, len(nodes), ranks, summary)
