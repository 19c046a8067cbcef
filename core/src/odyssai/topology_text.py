"""Rewriting ``topology.yaml``'s text with as little change as possible (used by ``save_clusters``).

Only the lines of what changed are re-emitted (by PyYAML, which reads the file back); every other
cluster, comment and line stays byte for byte, located with ``ruamel.yaml``. A file whose shape
does not allow that goes through ruamel's whole-file round trip (comments kept), and one ruamel
cannot read is rewritten from its data (comments lost). Every candidate must read back as exactly
the new topology.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import yaml

from .topology import Cluster, Topology, parse_topology

log = logging.getLogger("odyssai.topology")


def _cluster_to_raw(cluster: Cluster) -> dict[str, Any]:
    """The cluster as the file writes it: fields in declaration order, defaults left out (but
    ``backend``, ``name`` and ``host`` always written)."""
    raw = cluster.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {
        "backend": cluster.backend, "nodes": [
            {"name": n.name, "host": n.host} | n.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
            for n in cluster.nodes]}
    return {f: raw[f] for f in Cluster.model_fields if f in raw}


class _BlockDumper(yaml.SafeDumper):
    """PyYAML's safe dumper with block sequences indented under their key (``  - {...}``).

    Fragments are emitted by PyYAML, not ruamel: the file is read back with PyYAML (YAML 1.1),
    so strings such as ``yes`` or ``on`` must be quoted the way 1.1 needs.
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _emit(key: str, value: Any, col: int, nl: str) -> list[str]:
    """``key: value`` as YAML lines indented by ``col``: nodes and rdma_to rows one line each."""
    text = yaml.dump({key: value}, Dumper=_BlockDumper, sort_keys=False, width=4096, allow_unicode=True,
                     default_flow_style=None if isinstance(value, (dict, list)) else False)
    return [" " * col + line + nl for line in text.splitlines()]


def _round_trip() -> Any:
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _is_block_map(x: Any) -> bool:
    from ruamel.yaml.comments import CommentedMap

    return isinstance(x, CommentedMap) and not x.fa.flow_style()


def _is_content(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith("#")


def _key_spans(lines: list[str], cmap: Any, region_end: int) -> tuple[int, dict[str, tuple[int, int]]] | None:
    """The column of a block mapping's keys and each key's lines ``[start, end)`` in ``lines``.

    A key's lines run from the key to the last non-comment line before the next key, so the
    comments between two keys stay outside both. ``None`` when the positions look wrong.
    """
    keys = list(cmap)
    if not keys:
        return None
    pos = [tuple(cmap.lc.key(k)) for k in keys]
    cols = {c for _l, c in pos}
    if len(cols) != 1:
        return None
    col = cols.pop()
    spans: dict[str, tuple[int, int]] = {}
    for i, (k, (line, c)) in enumerate(zip(keys, pos)):
        nxt = pos[i + 1][0] if i + 1 < len(pos) else region_end
        if not (0 <= line < nxt <= region_end) or not isinstance(k, str):
            return None
        if not lines[line][c:].startswith((k, '"', "'")):
            return None
        last = max(j for j in range(line, nxt) if j == line or _is_content(lines[j]))
        spans[k] = (line, last + 1)
    return col, spans


def _comments_above(lines: list[str], start: int, col: int) -> int:
    """The first of the comment lines at column ``col`` right above ``start`` (they describe it)."""
    while start > 0 and lines[start - 1].strip().startswith("#") and \
            len(lines[start - 1]) - len(lines[start - 1].lstrip(" ")) == col:
        start -= 1
    return start


def _splice(text: str, old: Topology, changes: dict[str, Cluster | None]) -> str | None:
    """Rewrite only the lines of what changed; every other byte of the file stays as it is.

    A changed cluster keeps the lines of its unchanged fields (``backend``, ``nodes``, ...) and
    gets its changed fields re-emitted; a new cluster is added after the last one. ``None`` when
    the file's shape does not allow it (flow style, no clusters yet...).
    """
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += nl
    doc = _round_trip().load(text)
    edits: list[tuple[int, int, list[str]]] = []

    def edit(start: int, end: int, new: list[str]) -> None:
        edits.append((start, end, new))

    if doc is None:  # an empty file, or only comments
        added = {n: c for n, c in changes.items() if c is not None}
        if not added:
            return None
        edit(len(lines), len(lines), ["clusters:" + nl] +
             [x for n, c in added.items() for x in _emit(n, _cluster_to_raw(c), 2, nl)])
    else:
        if not _is_block_map(doc) or list(doc) != ["clusters"] or not _is_block_map(doc["clusters"]):
            return None
        cmap = doc["clusters"]
        found = _key_spans(lines, cmap, len(lines))
        if found is None:
            return None
        col, spans = found
        if not any(c is not None for c in changes.values()) and set(spans) <= set(changes):
            return None  # every cluster goes: ``clusters: {}`` is the round trip's job
        tail = max(end for _s, end in spans.values())
        for name, cluster in changes.items():
            if name not in spans:
                if cluster is not None:
                    edit(tail, tail, _emit(name, _cluster_to_raw(cluster), col, nl))
                continue
            start, end = spans[name]
            if cluster is None:
                edit(_comments_above(lines, start, col), end, [])
                continue
            before = old.clusters[name]
            if cluster == before:
                continue
            inner = _key_spans(lines, cmap[name], end) if _is_block_map(cmap[name]) else None
            if inner is None:
                edit(start, end, _emit(name, _cluster_to_raw(cluster), col, nl))
                continue
            icol, ispans = inner
            raw = _cluster_to_raw(cluster)
            for f in Cluster.model_fields:
                if getattr(before, f) == getattr(cluster, f):
                    continue
                if f in ispans:
                    s, e = ispans[f]
                    if f in raw:
                        edit(s, e, _emit(f, raw[f], icol, nl))
                    else:
                        edit(_comments_above(lines, s, icol), e, [])
                elif f in raw:
                    edit(end, end, _emit(f, raw[f], icol, nl))
    out: list[str] = []
    pos = 0
    order = sorted(range(len(edits)), key=lambda i: (edits[i][0], edits[i][1] > edits[i][0], i))
    for i in order:
        start, end, new = edits[i]
        if start < pos:
            return None
        out += lines[pos:start] + new
        pos = end
    return "".join(out + lines[pos:])


def _round_trip_all(text: str, changes: dict[str, Cluster | None]) -> str | None:
    """The whole file through ruamel's round trip: comments kept, layout normalised."""
    from ruamel.yaml.comments import CommentedMap

    rt = _round_trip()
    doc = rt.load(text) if text.strip() else None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        return None
    clusters = doc.get("clusters")
    if not isinstance(clusters, CommentedMap):
        clusters = doc["clusters"] = CommentedMap()
    for name, cluster in changes.items():
        if cluster is None:
            clusters.pop(name, None)
        else:  # PyYAML's text (YAML 1.1 quoting) loaded by ruamel keeps its quotes and flow rows
            clusters[name] = rt.load("".join(_emit(name, _cluster_to_raw(cluster), 0, "\n")))[name]
    buf = io.StringIO()
    rt.dump(doc, buf)
    return buf.getvalue()


def _plain(text: str, changes: dict[str, Cluster | None]) -> str:
    """The file rewritten from its data alone (comments lost): the last resort."""
    raw = (yaml.safe_load(text) if text.strip() else None) or {}
    clusters = dict(raw.get("clusters") or {})
    for name, cluster in changes.items():
        if cluster is None:
            clusters.pop(name, None)
        else:
            clusters[name] = _cluster_to_raw(cluster)
    raw["clusters"] = clusters
    return yaml.safe_dump(raw, sort_keys=False, default_flow_style=False)


def render(text: str, old: Topology, changes: dict[str, Cluster | None], source: str) -> str:
    """The new file's text: the most faithful rendering that reads back as exactly the new topology."""
    expected = dict(old.clusters)
    for name, cluster in changes.items():
        if cluster is None:
            expected.pop(name, None)
        else:
            expected[name] = cluster
    for attempt in (lambda: _splice(text, old, changes), lambda: _round_trip_all(text, changes)):
        try:
            candidate = attempt()
            if candidate is not None and parse_topology(candidate, source).clusters == expected:
                return candidate
        except Exception as e:  # a shape the faithful writers cannot handle: fall back, never fail
            log.debug("topology: faithful rewrite of %s not possible (%s: %s)", source, type(e).__name__, e)
    candidate = _plain(text, changes)
    parse_topology(candidate, source)
    return candidate
