"""Thunderbolt cables: fe80 neighbours, pulled and plugged cables, fresh nodes, wiring mistakes."""

from __future__ import annotations

import json

import pytest

from odyssai_testbed import Cable, Testbed, TestbedError

from testbed_helpers import fe80_neighbours

pytestmark = pytest.mark.testbed


def test_each_cable_shows_exactly_the_peers_fe80_address_as_neighbour(mesh3):
    for node in mesh3.node_names:
        seen = fe80_neighbours(mesh3, node)
        for cable in mesh3.cables:
            for end_node, port in cable.ends:
                if end_node == node:
                    peer = mesh3.link_local(*cable.peer_of(node, port))
                    assert seen[port] == {peer}, f"{node}:{port} sees {seen[port]}, expected {peer}"


def test_thunderbolt_ports_are_named_like_a_macs_from_en2(mesh3):
    for node in mesh3.node_names:
        assert mesh3.ports(node) == ["en2", "en3"]


def test_thunderbolt_ports_carry_only_an_fe80_address(mesh3):
    for node in mesh3.node_names:
        for port in mesh3.ports(node):
            out = mesh3.exec(node, ["ip", "-j", "addr", "show", "dev", port], check=True).stdout
            addrs = [(a["family"], a["local"]) for a in json.loads(out)[0]["addr_info"]]
            assert len(addrs) == 1 and addrs[0][0] == "inet6" and addrs[0][1].startswith("fe80:"), addrs


def test_the_ethernet_carries_ipv4_only(mesh3):
    out = mesh3.exec("node1", ["ip", "-j", "addr", "show", "dev", "en0"], check=True).stdout
    assert [(a["family"], a["local"]) for a in json.loads(out)[0]["addr_info"]] == [("inet", mesh3.node_ip("node1"))]


def test_a_pulled_cable_drops_that_neighbour_and_keeps_the_others(testbed_factory):
    tb = testbed_factory(3)
    pulled = tb.cable("node1", "node2")
    other = tb.cable("node1", "node3")
    tb.pull(pulled)
    seen = fe80_neighbours(tb, "node1")
    assert seen[pulled.port_a] == set()
    assert seen[other.port_a] == {tb.link_local("node3", other.port_b)}


def test_a_plugged_in_cable_shows_its_neighbour_again(testbed_factory):
    tb = testbed_factory(2)
    cable = tb.cable("node1", "node2")
    tb.pull(cable)
    tb.plug(cable)
    assert fe80_neighbours(tb, "node1")[cable.port_a] == {tb.link_local("node2", cable.port_b)}


def test_pulling_one_end_leaves_no_neighbour_on_either_end(testbed_factory):
    tb = testbed_factory(2)
    cable = tb.cable("node1", "node2")
    tb.pull(cable, end="node2")
    assert tb.is_plugged("node1", cable.port_a) and not tb.is_plugged("node2", cable.port_b)
    assert fe80_neighbours(tb, "node1")[cable.port_a] == set()
    assert fe80_neighbours(tb, "node2")[cable.port_b] == set()


def test_a_cable_wired_with_one_end_down_shows_no_neighbour(testbed_factory):
    tb = testbed_factory(2, [Cable("node1", "en2", "node2", "en4", up_b=False)])
    assert fe80_neighbours(tb, "node1") == {"en2": set()}
    assert tb.rdma_to() == {}


def test_a_fresh_node_has_no_fe80_on_its_thunderbolt_ports(testbed_factory):
    tb = testbed_factory(2)
    tb.make_fresh("node2")
    assert tb.is_fresh("node2")
    out = tb.exec("node2", ["ip", "-6", "addr", "show", "scope", "link"], check=True).stdout
    assert "fe80" not in out


def test_a_fresh_nodes_peer_sees_no_neighbour(testbed_factory):
    tb = testbed_factory(2)
    tb.make_fresh("node2")
    assert fe80_neighbours(tb, "node1") == {"en2": set()}


def test_onboarding_a_fresh_node_gives_its_ports_fe80_again(testbed_factory):
    tb = testbed_factory(2)
    tb.make_fresh("node2")
    tb.make_onboarded("node2")
    assert not tb.is_fresh("node2")
    assert fe80_neighbours(tb, "node1") == {"en2": {tb.link_local("node2", "en2")}}


# --- moving a cable ------------------------------------------------------------------------

def test_a_moved_cable_joins_the_new_port_to_the_same_peer_and_the_old_port_is_gone(testbed_factory):
    tb = testbed_factory(3)
    new = tb.move(tb.cable("node1", "node2"), end="node2", port="en5")
    assert str(new) == "node1:en2<->node2:en5"
    assert tb.ports("node2") == ["en3", "en5"]
    assert tb.exec("node2", ["ip", "link", "show", "dev", "en2"]).returncode != 0
    assert fe80_neighbours(tb, "node1")["en2"] == {tb.link_local("node2", "en5")}
    assert fe80_neighbours(tb, "node2")["en5"] == {tb.link_local("node1", "en2")}
    assert tb.rdma_to()["node2"]["node1"] == "rdma_en5"


def test_a_move_is_in_the_state_file_so_later_processes_see_the_new_cable(testbed_factory):
    tb = testbed_factory(3)
    tb.move(tb.cable("node1", "node2"), end="node2", node="node3")
    again = Testbed.open(state_dir=tb.state_dir)
    assert [str(c) for c in again.cables] == [str(c) for c in tb.cables] == [
        "node1:en2<->node3:en4", "node1:en3<->node3:en2", "node2:en3<->node3:en3"]
    again.move(again.cable("node2", "node3"), end="node3", port="en7")   # a move by another process
    assert str(Testbed.open(state_dir=tb.state_dir).cable("node2", "node3")) == "node2:en3<->node3:en7"


def test_a_moved_cable_keeps_a_pulled_far_end_pulled_and_a_fresh_nodes_port_without_fe80(testbed_factory):
    tb = testbed_factory(3)
    tb.pull(tb.cable("node1", "node2"), end="node1")
    tb.make_fresh("node3")
    new = tb.move(tb.cable("node1", "node2"), end="node2", node="node3")
    assert not tb.is_plugged("node1", new.port_a) and tb.is_plugged("node3", new.port_b)
    assert tb.is_fresh("node3") and tb.link_local("node3", new.port_b) is None
    tb.plug(new)
    assert tb.link_local("node1", new.port_a) is not None and tb.link_local("node3", new.port_b) is None


def test_a_testbed_with_moved_cables_tears_down_completely(testbed_factory):
    from odyssai_testbed import leftovers

    tb = testbed_factory(2)
    tb.move(tb.cable("node1", "node2"), end="node1", port="en6")
    tid, state_dir = tb.id, tb.state_dir
    tb.down()
    assert leftovers(tid, state_dir) == []


# --- a cable seen from one end only --------------------------------------------------------

def test_a_one_sided_cable_is_seen_from_the_talking_end_only(testbed_factory):
    tb = testbed_factory(3)
    cable = tb.cable("node2", "node3")
    tb.one_sided(cable, deaf_end="node3")
    assert tb.deaf_ends() == {("node3", cable.port_b)}
    for _ in range(2):   # and it stays so when probed again
        assert fe80_neighbours(tb, "node2")[cable.port_a] == {tb.link_local("node3", cable.port_b)}
        assert fe80_neighbours(tb, "node3")[cable.port_b] == set()
    assert fe80_neighbours(tb, "node3")["en2"] == {tb.link_local("node1", "en3")}   # its other cable is fine
    assert tb.rdma_to()["node2"]["node3"] == f"rdma_{cable.port_a}" and "node2" not in tb.rdma_to()["node3"]


def test_a_one_sided_cable_made_two_sided_again_is_seen_from_both_ends(testbed_factory):
    tb = testbed_factory(2)
    cable = tb.cable("node1", "node2")
    tb.one_sided(cable, deaf_end="node1")
    assert fe80_neighbours(tb, "node1")["en2"] == set()
    tb.two_sided(cable)
    assert tb.deaf_ends() == set()
    assert fe80_neighbours(tb, "node1")["en2"] == {tb.link_local("node2", "en2")}
    assert fe80_neighbours(tb, "node2")["en2"] == {tb.link_local("node1", "en2")}


def test_the_deaf_end_can_be_switched_and_a_bad_end_is_refused(testbed_factory):
    tb = testbed_factory(3)
    cable = tb.cable("node1", "node2")
    tb.one_sided(cable, deaf_end="node2")
    tb.one_sided(cable, deaf_end="node1")
    assert tb.deaf_ends() == {("node1", "en2")}
    with pytest.raises(TestbedError, match="has no end on 'node3'"):
        tb.one_sided(cable, deaf_end="node3")
