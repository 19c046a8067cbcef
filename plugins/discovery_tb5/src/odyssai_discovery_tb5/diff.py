"""What changed between two ``rdma_to`` matrices: cables added, removed, or moved to other ports.

Pure. A cable between nodes a and b is the pair (a's device toward b, b's device toward a); a
side the matrix does not list is ``None``. The pair is keyed by the two node names in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Sides = tuple[str | None, str | None]


@dataclass(frozen=True)
class CableChange:
    """One cable's change. ``before`` and ``after`` are (a's device, b's device)."""

    change: Literal["added", "removed", "moved"]
    a: str
    b: str
    before: Sides
    after: Sides

    def to_dict(self) -> dict:
        return {"change": self.change, "a": self.a, "b": self.b,
                "before": list(self.before), "after": list(self.after)}


def _sides(rdma_to: dict[str, dict[str, str]] | None, a: str, b: str) -> Sides:
    rdma_to = rdma_to or {}
    return (rdma_to.get(a) or {}).get(b), (rdma_to.get(b) or {}).get(a)


def _pairs(rdma_to: dict[str, dict[str, str]] | None) -> set[tuple[str, str]]:
    out = set()
    for a, peers in (rdma_to or {}).items():
        for b in peers or {}:
            if a != b:
                out.add((min(a, b), max(a, b)))
    return out


def diff_rdma_to(before: dict[str, dict[str, str]] | None,
                 after: dict[str, dict[str, str]] | None) -> list[CableChange]:
    """Every cable whose ends differ between ``before`` and ``after``, sorted by node names."""
    changes = []
    for a, b in sorted(_pairs(before) | _pairs(after)):
        old, new = _sides(before, a, b), _sides(after, a, b)
        if old == new:
            continue
        if old == (None, None):
            kind = "added"
        elif new == (None, None):
            kind = "removed"
        else:
            kind = "moved"
        changes.append(CableChange(kind, a, b, old, new))  # type: ignore[arg-type]
    return changes


def _end(node: str, device: str | None) -> str:
    return f"{node} {device or '?'}"


def render_diff(changes: list[CableChange]) -> list[str]:
    """One line per change: ``+`` added, ``-`` removed, ``~`` moved (with each end that moved)."""
    lines = []
    for c in changes:
        if c.change == "added":
            lines.append(f"+ {_end(c.a, c.after[0])} <-> {_end(c.b, c.after[1])}")
        elif c.change == "removed":
            lines.append(f"- {_end(c.a, c.before[0])} <-> {_end(c.b, c.before[1])}")
        else:
            moved = [f"{node} {old or '?'} -> {new or '?'}"
                     for node, old, new in ((c.a, c.before[0], c.after[0]), (c.b, c.before[1], c.after[1]))
                     if old != new]
            lines.append(f"~ {c.a} <-> {c.b}: {'; '.join(moved)}")
    return lines
