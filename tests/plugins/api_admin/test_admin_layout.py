"""The topology view's data: node positions, cable states and the mesh check (pure)."""

from __future__ import annotations

from odyssai.topology import Cluster, Node
from odyssai_api_admin.layout import SIZE, cable_links, layout, node_positions, topology_view


def spec(n: int, backend: str = "ring", rdma_to=None) -> Cluster:
    return Cluster(backend=backend, nodes=[Node(name=f"m{i + 1}", host=f"10.0.0.{i + 1}") for i in range(n)],
                   rdma_to=rdma_to)


def full_mesh(names):
    return {a: {b: f"rdma_en{j + 2}" for j, b in enumerate(names) if b != a} for a in names}


def test_rank_0_sits_on_top_and_the_others_follow_clockwise_inside_the_box():
    pts = node_positions(4)
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts
    assert x0 == SIZE / 2 and y0 == min(y for _, y in pts)
    assert x1 > x0 and y2 > y1 and x3 < x2
    assert all(0 < x < SIZE and 0 < y < SIZE for x, y in pts)


def test_a_single_node_sits_in_the_middle():
    assert node_positions(1) == [(SIZE / 2, SIZE / 2)]


def test_a_symmetric_mesh_draws_every_cable_ok_with_both_devices():
    names = ["m1", "m2", "m3"]
    links = cable_links(names, full_mesh(names), expect_mesh=True)
    assert [(l["a"], l["b"], l["state"]) for l in links] == [("m1", "m2", "ok"), ("m1", "m3", "ok"), ("m2", "m3", "ok")]
    assert links[0]["devices"] == {"m1": "rdma_en3", "m2": "rdma_en2"}


def test_a_cable_listed_by_one_end_is_one_sided_and_an_absent_one_missing():
    rdma = {"m1": {"m2": "rdma_en3", "m3": "rdma_en4"}, "m2": {"m1": "rdma_en3"}}
    states = {(l["a"], l["b"]): (l["state"], l["devices"]) for l in cable_links(["m1", "m2", "m3"], rdma, True)}
    assert states[("m1", "m3")] == ("one-sided", {"m1": "rdma_en4", "m3": None})
    assert states[("m2", "m3")] == ("missing", {"m2": None, "m3": None})


def test_without_a_mesh_to_expect_absent_cables_are_not_drawn():
    assert cable_links(["m1", "m2", "m3"], {"m1": {"m2": "e"}}, expect_mesh=False) == [
        {"a": "m1", "b": "m2", "state": "one-sided", "devices": {"m1": "e", "m2": None}}]


def test_each_cable_line_joins_its_two_nodes_and_is_labelled_at_its_middle():
    view = layout(["m1", "m2"], full_mesh(["m1", "m2"]), expect_mesh=True)
    pos = {n["name"]: (n["x"], n["y"]) for n in view["nodes"]}
    (link,) = view["links"]
    assert (link["x1"], link["y1"]) == pos["m1"] and (link["x2"], link["y2"]) == pos["m2"]
    assert link["label_x"] == (pos["m1"][0] + pos["m2"][0]) / 2


def test_a_ring_cluster_without_rdma_to_is_not_checked_and_has_no_cables():
    view = topology_view("lab", spec(3))
    assert view["mesh"] == {"checked": False, "ok": True, "expected_edges": 0, "edges": 0, "problems": []}
    assert view["layout"]["links"] == [] and [n["name"] for n in view["nodes"]] == ["m1", "m2", "m3"]


def test_a_jaccl_cluster_reports_the_mesh_problems_validate_mesh_finds():
    rdma = {"m1": {"m2": "rdma_en3", "m3": "rdma_en4"}, "m2": {"m1": "rdma_en3"}, "m3": {}}
    view = topology_view("lab", spec(3, "jaccl", rdma))
    assert view["mesh"]["checked"] and not view["mesh"]["ok"]
    assert view["mesh"]["expected_edges"] == 6 and view["mesh"]["edges"] == 3
    assert view["mesh"]["problems"] == ["one-sided cable: m1 -> m3 (rdma_en4) is not seen from m3",
                                        "missing cable: m2 <-> m3"]
    assert view["rdma_to"] == rdma


def test_a_jaccl_cluster_without_rdma_to_misses_every_cable():
    view = topology_view("lab", spec(2, "jaccl"))
    assert [l["state"] for l in view["layout"]["links"]] == ["missing"]
    assert view["mesh"]["problems"] == ["missing cable: m1 <-> m2"]
