"""The one decision rank 0 makes per step, and how every other rank receives it.

Every rank runs the same loop: receive the step's ``Decision``, apply it to its BatchGenerator
(removals, then insertions, in list order), stop if told to, else run one generator step. Only
rank 0 decides; the others learn the decision through the MLX group, so all ranks insert and
remove the same sequences in the same order and their collectives line up.

Wire format (JSON, UTF-8; never pickle), shared as two ``all_sum`` collectives where rank 0
contributes the bytes and every other rank zeros — first the byte count as an int32 scalar, then,
only when the count is not 0, the bytes as a uint8 vector::

    {"v": 1,
     "remove": ["req-1"],                        # request ids leaving the batch
     "insert": [{"id": "req-2",                  # request ids joining it, in this order
                 "tokens": [1, 88, 86],          # the prompt, tokenized on rank 0
                 "max_tokens": 64,
                 "temperature": 0.7, "top_p": 0.9, "seed": 1234}],
     "stop": false}                              # true: leave the loop and exit

An empty decision (nothing changes) is sent as the count 0 alone: one scalar collective per
step, also while idle, so every rank stays in step with rank 0.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

WIRE_VERSION = 1


@dataclass
class Insert:
    """A sequence joining the batch: everything a rank needs to run it identically."""

    id: str
    tokens: list[int]
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0


@dataclass
class Decision:
    remove: list[str] = field(default_factory=list)
    insert: list[Insert] = field(default_factory=list)
    stop: bool = False

    @property
    def empty(self) -> bool:
        return not (self.remove or self.insert or self.stop)

    def encode(self) -> bytes:
        if self.empty:
            return b""
        body = {"v": WIRE_VERSION, "remove": self.remove,
                "insert": [asdict(i) for i in self.insert], "stop": self.stop}
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> "Decision":
        if not data:
            return cls()
        body = json.loads(data.decode())
        if body.get("v") != WIRE_VERSION:
            raise ValueError(f"rank 0 shares decisions in format {body.get('v')}, this rank reads {WIRE_VERSION}")
        return cls(remove=[str(r) for r in body.get("remove", [])],
                   insert=[Insert(**i) for i in body.get("insert", [])],
                   stop=bool(body.get("stop", False)))


def share(decision: Decision | None, group: Any, rank: int) -> Decision:
    """Rank 0 passes its decision, the others None; every rank returns rank 0's decision."""
    if group is None or group.size() == 1:
        return decision or Decision()
    import mlx.core as mx
    import numpy as np

    if rank == 0:
        data = (decision or Decision()).encode()
        mx.eval(mx.distributed.all_sum(mx.array(len(data), dtype=mx.int32), group=group))
        if data:
            payload = mx.array(np.frombuffer(data, dtype=np.uint8))
            mx.eval(mx.distributed.all_sum(payload, group=group))
        return decision or Decision()
    size = mx.distributed.all_sum(mx.array(0, dtype=mx.int32), group=group).item()
    if size == 0:
        return Decision()
    payload = mx.distributed.all_sum(mx.zeros(size, dtype=mx.uint8), group=group)
    return Decision.decode(np.array(payload).tobytes())
