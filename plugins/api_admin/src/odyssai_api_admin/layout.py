"""The topology view of a cluster: its nodes, its Thunderbolt cables, and where to draw them.

Pure: ``topology_view`` turns a cluster of ``topology.yaml`` into plain data — the nodes in rank
order, the ``rdma_to`` matrix, the mesh check (``odyssai.topology.validate_mesh``) and an SVG
layout (nodes on a circle, rank 0 on top, clockwise). Each cable between two nodes is ``ok``
(seen from both ends), ``one-sided`` (listed by one end only) or ``missing`` (listed by neither,
though a full mesh needs it). The dashboard only draws what this returns.
"""

from __future__ import annotations

import math
from typing import Any

from odyssai.topology import Cluster as ClusterSpec
from odyssai.topology import validate_mesh

SIZE = 320
MARGIN = 48


def uses_cables(spec: ClusterSpec) -> bool:
    """True when the cluster's Thunderbolt mesh matters: jaccl, or any ``rdma_to`` given."""
    return spec.backend == "jaccl" or spec.rdma_to is not None


def node_positions(n: int, size: int = SIZE, margin: int = MARGIN) -> list[tuple[float, float]]:
    """``n`` points on a circle in a ``size`` square: rank 0 at the top, then clockwise."""
    c = size / 2
    if n == 1:
        return [(c, c)]
    r = c - margin
    return [(round(c + r * math.sin(2 * math.pi * i / n), 1), round(c - r * math.cos(2 * math.pi * i / n), 1))
            for i in range(n)]


def cable_links(names: list[str], rdma_to: dict[str, dict[str, str]] | None,
                expect_mesh: bool) -> list[dict[str, Any]]:
    """One entry per node pair that has (or, in a full mesh, should have) a cable.

    ``devices`` maps each end to the RDMA device it lists for the other (None: not listed).
    """
    rdma_to = rdma_to or {}
    links = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            dev_a = (rdma_to.get(a) or {}).get(b)
            dev_b = (rdma_to.get(b) or {}).get(a)
            if dev_a and dev_b:
                state = "ok"
            elif dev_a or dev_b:
                state = "one-sided"
            elif expect_mesh:
                state = "missing"
            else:
                continue
            links.append({"a": a, "b": b, "state": state, "devices": {a: dev_a, b: dev_b}})
    return links


def layout(names: list[str], rdma_to: dict[str, dict[str, str]] | None, expect_mesh: bool,
           size: int = SIZE) -> dict[str, Any]:
    """Coordinates for the SVG: nodes, and each cable as a line between its two nodes."""
    pos = dict(zip(names, node_positions(len(names), size)))
    nodes = [{"name": n, "rank": i, "x": pos[n][0], "y": pos[n][1]} for i, n in enumerate(names)]
    links = []
    for link in cable_links(names, rdma_to, expect_mesh):
        (x1, y1), (x2, y2) = pos[link["a"]], pos[link["b"]]
        links.append(link | {"x1": x1, "y1": y1, "x2": x2, "y2": y2,
                             "label_x": round((x1 + x2) / 2, 1), "label_y": round((y1 + y2) / 2, 1)})
    return {"width": size, "height": size, "nodes": nodes, "links": links}


def topology_view(name: str, spec: ClusterSpec) -> dict[str, Any]:
    """Everything ``GET /admin/{cluster}/topology`` answers, from the cluster's spec alone."""
    names = [n.name for n in spec.nodes]
    checked = uses_cables(spec)
    mesh: dict[str, Any] = {"checked": checked, "ok": True, "expected_edges": 0, "edges": 0, "problems": []}
    if checked:
        report = validate_mesh(names, spec.rdma_to)
        mesh = {"checked": True, "ok": report.ok, "expected_edges": report.expected_edges,
                "edges": len(report.edges), "problems": report.problems}
    return {"cluster": name, "backend": spec.backend,
            "nodes": [{"name": n.name, "rank": i, "host": n.host, "ip": str(n.ip) if n.ip else None}
                      for i, n in enumerate(spec.nodes)],
            "rdma_to": spec.rdma_to, "mesh": mesh,
            "layout": layout(names, spec.rdma_to, expect_mesh=checked)}
