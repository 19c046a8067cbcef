"""Metric families and the Prometheus text exposition format (version 0.0.4), without dependencies.

A ``Family`` is one metric name with its help, type and label names; counters ``inc``, gauges
``set``, histograms ``observe`` (cumulative ``_bucket{le=...}``, ``_sum``, ``_count``).
``render`` writes families as text a Prometheus server (or
``prometheus_client.parser.text_string_to_metric_families``) reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

CONTENT_TYPE = "text/plain; version=0.0.4"  # Litestar appends "; charset=utf-8"

Kind = Literal["counter", "gauge", "histogram"]


def format_value(v: float) -> str:
    """A sample value as Prometheus writes it: integers plainly, ``+Inf``, ``NaN``."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def escape_label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def label_text(names: Iterable[str], values: Iterable[Any]) -> str:
    pairs = [f'{n}="{escape_label(v)}"' for n, v in zip(names, values)]
    return "{" + ",".join(pairs) + "}" if pairs else ""


@dataclass
class _Hist:
    counts: list[int]
    sum: float = 0.0
    count: int = 0


@dataclass
class Family:
    """One metric: ``name`` (counters end in ``_total``), ``help``, ``kind`` and ``labels``."""

    name: str
    help: str
    kind: Kind
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    values: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def _key(self, labels: dict[str, Any]) -> tuple[str, ...]:
        if set(labels) != set(self.labels):
            raise ValueError(f"{self.name} takes labels {self.labels}, not {tuple(labels)}")
        return tuple(str(labels[n]) for n in self.labels)

    def inc(self, amount: float = 1.0, **labels: Any) -> None:
        if self.kind != "counter" or amount < 0:
            raise ValueError(f"{self.name}: only counters go up, and only by amounts >= 0")
        key = self._key(labels)
        self.values[key] = self.values.get(key, 0.0) + amount

    def set(self, value: float, **labels: Any) -> None:
        if self.kind != "gauge":
            raise ValueError(f"{self.name} is a {self.kind}, not a gauge")
        self.values[self._key(labels)] = float(value)

    def observe(self, value: float, **labels: Any) -> None:
        if self.kind != "histogram":
            raise ValueError(f"{self.name} is a {self.kind}, not a histogram")
        key = self._key(labels)
        h = self.values.get(key) or _Hist([0] * len(self.buckets))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                h.counts[i] += 1
        h.sum += value
        h.count += 1
        self.values[key] = h

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]
        for key in sorted(self.values):
            v = self.values[key]
            if self.kind != "histogram":
                out.append(f"{self.name}{label_text(self.labels, key)} {format_value(v)}")
                continue
            for bound, n in zip(self.buckets, v.counts):
                out.append(f"{self.name}_bucket{label_text(self.labels + ('le',), key + (format_value(bound),))} {n}")
            out.append(f"{self.name}_bucket{label_text(self.labels + ('le',), key + ('+Inf',))} {v.count}")
            out.append(f"{self.name}_sum{label_text(self.labels, key)} {format_value(v.sum)}")
            out.append(f"{self.name}_count{label_text(self.labels, key)} {v.count}")
        return out


def render(families: Iterable[Family]) -> str:
    """The exposition text of ``families``, each with its HELP and TYPE lines."""
    lines: list[str] = []
    for f in families:
        lines += f.lines()
    return "\n".join(lines) + "\n"
