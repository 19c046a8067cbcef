"""Thunderbolt cables: fe80 neighbours, pulled and plugged cables, fresh nodes, wiring mistakes."""

from __future__ import annotations

import json

import pytest

from odyssai_testbed import Cable

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
