"""Parsing what the probe reads on a node.

Linux outputs were captured here with iproute2 6.1.0; the macOS ones are written from the
documented formats of networksetup(8), ifconfig(8) and ndp(8), not captured on a Mac.
"""

from __future__ import annotations

from mlx._distributed_utils.config import parse_hardware_ports as mlx_parse_hardware_ports

import tb5_samples as s
from odyssai_discovery_tb5.parsers import (HardwarePort, normalize_fe80, normalize_mac, parse_hardware_ports,
                                           parse_ifconfig, parse_ip_addr, parse_ip_addr_json, parse_ip_neigh,
                                           parse_ip_neigh_json, parse_ndp)

# --- macOS: networksetup -listallhardwareports ----------------------------------------------

def test_hardware_ports_give_each_port_its_device_and_mac():
    ports = parse_hardware_ports(s.NETWORKSETUP_HARDWARE_PORTS)
    assert ports[3] == HardwarePort("Thunderbolt 1", "en2", "1e:2a:3b:4d:5e:6f")


def test_only_thunderbolt_receptacles_count_as_thunderbolt_ports_not_the_bridge():
    ports = parse_hardware_ports(s.NETWORKSETUP_HARDWARE_PORTS)
    assert [p.device for p in ports if p.is_thunderbolt_port] == ["en2", "en3", "en4"]


def test_hardware_ports_agree_with_mlxs_own_parser_of_the_same_output():
    ours = {p.name: p.device for p in parse_hardware_ports(s.NETWORKSETUP_HARDWARE_PORTS)}
    assert ours == mlx_parse_hardware_ports(s.NETWORKSETUP_HARDWARE_PORTS.encode())


def test_the_vlan_section_after_the_ports_is_not_a_port():
    assert len(parse_hardware_ports(s.NETWORKSETUP_HARDWARE_PORTS)) == 6


# --- macOS: ifconfig --------------------------------------------------------------------------

def test_ifconfig_gives_a_ports_fe80_without_its_zone():
    assert parse_ifconfig(s.IFCONFIG)["en2"].fe80 == "fe80::1c2a:3bff:fe4d:5e6f"


def test_ifconfig_status_active_means_the_port_has_a_link():
    ifaces = parse_ifconfig(s.IFCONFIG)
    assert (ifaces["en3"].up, ifaces["en4"].up) == (True, False)


def test_a_port_inside_bridge0_has_no_fe80_and_is_listed_as_a_member():
    ifaces = parse_ifconfig(s.IFCONFIG)
    assert ifaces["en3"].fe80 is None and ifaces["bridge0"].members == ["en3", "en4"]


def test_ifconfig_reads_the_ethernet_ipv4_and_mac():
    en0 = parse_ifconfig(s.IFCONFIG)["en0"]
    assert (en0.ipv4, en0.mac) == (["10.0.0.11"], "1c:1d:d3:e0:11:22")


# --- macOS: ndp -an ---------------------------------------------------------------------------

def test_ndp_gives_the_neighbour_seen_on_each_port():
    n = [x for x in parse_ndp(s.NDP_AN) if not x.own]
    assert [(x.iface, x.addr, x.mac) for x in n] == [("en2", "fe80::8c2d:5eff:fe11:2233", "8e:2d:5e:11:22:33")]


def test_ndp_marks_the_nodes_own_addresses_permanent_as_its_own():
    own = [x for x in parse_ndp(s.NDP_AN) if x.own]
    assert {x.iface for x in own} == {"en0", "en2"}


def test_ndp_skips_incomplete_entries():
    assert all(x.iface != "en3" for x in parse_ndp(s.NDP_AN))


# --- Linux: ip addr ---------------------------------------------------------------------------

def test_ip_j_addr_gives_a_ports_fe80_mac_and_link():
    en2 = parse_ip_addr_json(s.IP_J_ADDR)["en2"]
    assert (en2.fe80, en2.mac, en2.up) == ("fe80::ff:fe00:102", "02:00:00:00:01:02", True)


def test_ip_j_addr_no_carrier_means_no_link():
    assert parse_ip_addr_json(s.IP_J_ADDR_NO_CARRIER)["en2"].up is False


def test_ip_j_addr_of_a_port_with_addrgenmode_none_has_no_fe80():
    en4 = parse_ip_addr_json(s.IP_J_ADDR_NO_FE80)["en4"]
    assert (en4.fe80, en4.up) == (None, True)


def test_ip_addr_show_text_reads_like_the_json():
    text, js = parse_ip_addr(s.IP_ADDR_SHOW)["en2"], parse_ip_addr_json(s.IP_J_ADDR)["en2"]
    assert (text.fe80, text.mac, text.up) == (js.fe80, js.mac, js.up)


def test_ip_addr_show_strips_the_veth_peer_suffix_from_the_name():
    assert set(parse_ip_addr(s.IP_ADDR_SHOW)) == {"lo", "en2"}


def test_ip_6_addr_show_has_the_fe80_but_no_mac():
    en2 = parse_ip_addr(s.IP_6_ADDR_SHOW)["en2"]
    assert (en2.fe80, en2.mac) == ("fe80::ff:fe00:102", None)


# --- Linux: ip neigh --------------------------------------------------------------------------

def test_ip_j_6_neigh_gives_the_neighbour_on_each_port():
    assert [(n.iface, n.addr, n.mac) for n in parse_ip_neigh_json(s.IP_J_6_NEIGH)] == [
        ("en2", "fe80::ff:fe00:203", "02:00:00:00:02:03")]


def test_ip_6_neigh_show_text_reads_like_the_json():
    assert parse_ip_neigh(s.IP_6_NEIGH) == parse_ip_neigh_json(s.IP_J_6_NEIGH)


def test_ip_6_neigh_show_dev_takes_the_port_from_the_command():
    assert parse_ip_neigh(s.IP_6_NEIGH_DEV, dev="en2") == parse_ip_neigh_json(s.IP_J_6_NEIGH)


def test_a_failed_neighbour_without_a_link_layer_address_is_skipped():
    assert parse_ip_neigh("fe80::1 dev en2 FAILED\n") == []


# --- addresses ------------------------------------------------------------------------------

def test_a_mac_printed_without_leading_zeros_is_normalised():
    assert normalize_mac("2:0:0:A:1:2") == "02:00:00:0a:01:02"


def test_an_address_that_is_not_link_local_is_not_an_fe80():
    assert normalize_fe80("2001:db8::1%en2") is None
