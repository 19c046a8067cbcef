"""Matching what each node saw into cables, problems and the rdma_to matrix."""

from __future__ import annotations

from odyssai.discovery import Cable
from odyssai.topology import validate_mesh
from odyssai_discovery_tb5 import NodeView, PortInfo, match_cables, rdma_to_from_cables
from odyssai_discovery_tb5.parsers import Neighbour

from tb5_samples import eui64_fe80, mac_of

NODES = ["a", "b", "c"]


def port(node: str, p: int, *, fe80=True, up=True, bridged=False) -> PortInfo:
    mac = mac_of(NODES.index(node) + 1, p)
    return PortInfo(node=node, iface=f"en{p}", mac=mac, fe80=eui64_fe80(mac) if fe80 else None, up=up,
                    bridged=bridged)


def sees(node: str, p: int, peer: str, q: int) -> Neighbour:
    mac = mac_of(NODES.index(peer) + 1, q)
    return Neighbour(iface=f"en{p}", addr=eui64_fe80(mac), mac=mac, state="REACHABLE")


def views(ports: dict[str, list[PortInfo]], neighbours: dict[str, list[Neighbour]]) -> list[NodeView]:
    return [NodeView(n, ports.get(n, []), neighbours.get(n, [])) for n in ports]


def mesh3():
    """a.en2-b.en2, a.en3-c.en2, b.en3-c.en3, every end seeing the other."""
    ports = {"a": [port("a", 2), port("a", 3)], "b": [port("b", 2), port("b", 3)], "c": [port("c", 2), port("c", 3)]}
    neigh = {"a": [sees("a", 2, "b", 2), sees("a", 3, "c", 2)],
             "b": [sees("b", 2, "a", 2), sees("b", 3, "c", 3)],
             "c": [sees("c", 2, "a", 3), sees("c", 3, "b", 3)]}
    return ports, neigh


def test_two_ports_that_see_each_other_are_a_cable_seen_from_both_ends():
    ports = {"a": [port("a", 2)], "b": [port("b", 3)]}
    m = match_cables(views(ports, {"a": [sees("a", 2, "b", 3)], "b": [sees("b", 3, "a", 2)]}))
    assert m.cables == [Cable("a", "en2", "b", "en3"), Cable("b", "en3", "a", "en2")] and m.problems == []


def test_a_full_mesh_of_three_gives_a_valid_rdma_to():
    m = match_cables(views(*mesh3()))
    rdma_to = rdma_to_from_cables(m.cables, NODES)
    assert validate_mesh(NODES, rdma_to).ok


def test_rdma_to_names_each_nodes_own_end_of_the_cable_as_jaccl_expects():
    rdma_to = rdma_to_from_cables(match_cables(views(*mesh3())).cables, NODES)
    assert rdma_to == {"a": {"b": "rdma_en2", "c": "rdma_en3"},
                       "b": {"a": "rdma_en2", "c": "rdma_en3"},
                       "c": {"a": "rdma_en2", "b": "rdma_en3"}}


def test_a_neighbour_is_recognised_by_its_mac_when_its_address_is_not_known():
    ports = {"a": [port("a", 2)], "b": [port("b", 3)]}
    other = Neighbour(iface="en2", addr="fe80::dead:beef", mac=mac_of(2, 3))
    m = match_cables(views(ports, {"a": [other], "b": [sees("b", 3, "a", 2)]}))
    assert Cable("a", "en2", "b", "en3") in m.cables


def test_a_cable_seen_from_one_end_only_is_reported_one_sided_and_kept_for_validation():
    ports = {"a": [port("a", 2)], "b": [port("b", 3)]}
    m = match_cables(views(ports, {"a": [sees("a", 2, "b", 3)], "b": []}))
    assert m.problems[0].startswith("one-sided cable: a en2 sees b en3, but b en3 does not see a en2")
    assert "one-sided" in validate_mesh(["a", "b"], rdma_to_from_cables(m.cables, ["a", "b"])).problems[0]


def test_a_port_with_a_link_but_no_fe80_is_not_onboarded_and_says_what_to_run():
    ports = {"a": [port("a", 2)], "b": [port("b", 3, fe80=False)]}
    [problem] = [p for p in match_cables(views(ports, {})).problems if p.startswith("b en3")]
    assert "not onboarded" in problem and "odyssai node-setup network` at its console" in problem


def test_a_port_still_in_bridge0_says_so_when_it_is_not_onboarded():
    m = match_cables(views({"a": [port("a", 2, fe80=False, bridged=True)]}, {}))
    assert "bridge0" in m.problems[0]


def test_a_port_without_a_link_is_neither_a_cable_nor_a_problem():
    m = match_cables(views({"a": [port("a", 4, up=False, fe80=False)]}, {}))
    assert (m.cables, m.problems) == ([], [])


def test_stale_neighbours_on_a_port_without_a_link_make_no_cable():
    ports = {"a": [port("a", 2, up=False)], "b": [port("b", 3, up=False)]}
    m = match_cables(views(ports, {"a": [sees("a", 2, "b", 3)], "b": [sees("b", 3, "a", 2)]}))
    assert m.cables == []


def test_a_neighbour_that_is_no_node_of_the_cluster_is_reported_unknown():
    stranger = Neighbour(iface="en2", addr="fe80::8c2d:5eff:fe11:2233", mac="8e:2d:5e:11:22:33")
    m = match_cables(views({"a": [port("a", 2)]}, {"a": [stranger]}))
    assert m.problems == ["a en2 reaches an unknown machine (fe80::8c2d:5eff:fe11:2233, 8e:2d:5e:11:22:33): "
                          "not a node of this cluster, or a node that could not be probed"]


def test_a_linked_port_that_heard_nothing_is_reported():
    m = match_cables(views({"a": [port("a", 2)]}, {}))
    assert m.problems == ["a en2 has a link but no neighbour answered: is the other end onboarded and up?"]


def test_a_stale_entry_for_a_cable_that_moved_is_ignored_when_the_real_peer_sees_the_port_back():
    ports = {"a": [port("a", 2)], "b": [port("b", 3)], "c": [port("c", 2)]}
    neigh = {"a": [sees("a", 2, "b", 3), sees("a", 2, "c", 2)],  # c's entry is stale
             "b": [sees("b", 3, "a", 2)], "c": []}
    m = match_cables(views(ports, neigh))
    assert [c for c in m.cables if c.node == "a"] == [Cable("a", "en2", "b", "en3")]


def test_a_port_that_several_nodes_see_back_is_reported_as_a_hub():
    ports = {"a": [port("a", 2)], "b": [port("b", 3)], "c": [port("c", 2)]}
    neigh = {"a": [sees("a", 2, "b", 3), sees("a", 2, "c", 2)],
             "b": [sees("b", 3, "a", 2)], "c": [sees("c", 2, "a", 2)]}
    assert any("reaches several nodes" in p for p in match_cables(views(ports, neigh)).problems)


def test_the_nodes_own_addresses_in_its_table_are_not_neighbours():
    own = Neighbour(iface="en2", addr=eui64_fe80(mac_of(1, 2)), mac=mac_of(1, 2), own=True)
    m = match_cables(views({"a": [port("a", 2)]}, {"a": [own]}))
    assert m.problems == ["a en2 has a link but no neighbour answered: is the other end onboarded and up?"]


def test_two_cables_between_the_same_nodes_give_one_device_pair_from_the_same_cable():
    cables = [Cable("a", "en2", "b", "en5"), Cable("b", "en5", "a", "en2"),
              Cable("a", "en3", "b", "en4"), Cable("b", "en4", "a", "en3")]
    assert rdma_to_from_cables(cables) == {"a": {"b": "rdma_en2"}, "b": {"a": "rdma_en5"}}


def test_a_node_without_cables_is_still_in_rdma_to_so_validation_names_it():
    rdma_to = rdma_to_from_cables([Cable("a", "en2", "b", "en2"), Cable("b", "en2", "a", "en2")], NODES)
    assert rdma_to["c"] == {} and "missing cable: a <-> c" in validate_mesh(NODES, rdma_to).problems


def test_a_port_without_a_link_does_not_confirm_a_cable_with_its_stale_entries():
    ports = {"a": [port("a", 2)], "b": [port("b", 3, up=False)]}
    m = match_cables(views(ports, {"a": [sees("a", 2, "b", 3)], "b": [sees("b", 3, "a", 2)]}))
    assert m.problems[0].startswith("one-sided cable: a en2 sees b en3")
