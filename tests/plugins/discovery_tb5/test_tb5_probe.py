"""``TB5Discoverer.probe`` over a fake ``run`` that replays command outputs per node.

``FakeShell`` stands in for SSH to the nodes. The Linux outputs follow the captured iproute2
format (tb5_samples); the macOS ones are written from the documented formats, not captured.
The lead runs the real probe on the testbed.
"""

from __future__ import annotations

import anyio

from odyssai.discovery import Cable, CommandResult
from odyssai.topology import Cluster, Node, validate_mesh
from odyssai_discovery_tb5 import TB5Discoverer, rdma_to_from_cables
from odyssai_discovery_tb5.probe import ping_argv

import tb5_samples as s

LINUX_NEIGH = ("ip", "-j", "-6", "neigh", "show")
LINUX_ADDR = ("ip", "-j", "addr", "show")


class FakeShell:
    """Answers ``run(node, argv)`` from ``outputs[(node, argv)]``; pings succeed; the rest exit 127."""

    def __init__(self, outputs: dict):
        self.outputs = outputs
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    async def __call__(self, node: Node, argv: list[str]) -> CommandResult:
        key = (node.name, tuple(argv))
        self.calls.append(key)
        out = self.outputs.get(key)
        if isinstance(out, Exception):
            raise out
        if isinstance(out, CommandResult):
            return out
        if out is not None:
            return CommandResult(0, out, "")
        if argv[0] in ("ping", "ping6"):
            return CommandResult(0, "", "")
        return CommandResult(127, "", f"{argv[0]}: command not found")


def cluster(n: int) -> Cluster:
    return Cluster(backend="jaccl", nodes=[Node(name=f"n{i}", host=f"10.0.0.{i + 11}") for i in range(n)])


def linux_mesh3(fresh_port: tuple[int, int] | None = None) -> dict:
    """Three testbed nodes cabled n0.en2-n1.en2, n0.en3-n2.en2, n1.en3-n2.en3."""
    cables = [((0, 2), (1, 2)), ((0, 3), (2, 2)), ((1, 3), (2, 3))]
    ports: dict[int, dict[int, dict]] = {i: {} for i in range(3)}
    neigh: dict[int, list] = {i: [] for i in range(3)}
    for (a, x), (b, y) in cables:
        ports[a][x], ports[b][y] = {}, {}
    if fresh_port:
        ports[fresh_port[0]][fresh_port[1]] = {"fe80": False}
    for (a, x), (b, y) in cables:
        if ports[b][y].get("fe80", True):
            neigh[a].append((f"en{x}", s.mac_of(b, y)))
        if ports[a][x].get("fe80", True):
            neigh[b].append((f"en{y}", s.mac_of(a, x)))
    outputs = {}
    for i in range(3):
        outputs[(f"n{i}", ("uname", "-s"))] = "Linux\n"
        outputs[(f"n{i}", LINUX_ADDR)] = s.linux_ip_j_addr(i, ports[i], f"10.0.0.{i + 11}")
        outputs[(f"n{i}", LINUX_NEIGH)] = s.linux_ip_j_neigh(neigh[i])
    return outputs


def probe(shell: FakeShell, n: int = 3):
    return anyio.run(TB5Discoverer().probe, "lab", cluster(n), shell)


def test_a_cabled_testbed_mesh_is_found_with_every_cable_and_no_problem():
    result = probe(FakeShell(linux_mesh3()))
    assert result.problems == [] and len(result.cables) == 6


def test_the_probed_cables_make_an_rdma_to_that_validates_as_a_mesh():
    result = probe(FakeShell(linux_mesh3()))
    rdma_to = rdma_to_from_cables(result.cables, ["n0", "n1", "n2"])
    assert validate_mesh(["n0", "n1", "n2"], rdma_to).ok and rdma_to["n0"] == {"n1": "rdma_en2", "n2": "rdma_en3"}


def test_on_linux_the_ethernet_interface_is_not_a_thunderbolt_port():
    result = probe(FakeShell(linux_mesh3()))
    assert {p.iface for p in result.ports} == {"en2", "en3"}


def test_an_en_interface_that_carries_the_ethernet_ipv4_is_not_a_thunderbolt_port():
    outputs = linux_mesh3()
    addr = outputs[("n0", LINUX_ADDR)].replace('"ifname": "eth0"', '"ifname": "en1"')
    outputs[("n0", LINUX_ADDR)] = addr
    result = probe(FakeShell(outputs))
    assert "en1" not in {p.iface for p in result.ports if p.node == "n0"}


def test_every_port_is_pinged_on_its_link_before_any_neighbour_table_is_read():
    shell = FakeShell(linux_mesh3())
    probe(shell)
    pings = [i for i, (_, argv) in enumerate(shell.calls) if argv[0] == "ping"]
    reads = [i for i, (_, argv) in enumerate(shell.calls) if argv == LINUX_NEIGH]
    assert len(pings) == 6 and max(pings) < min(reads)


def test_linux_pings_all_nodes_multicast_on_the_port_with_a_one_second_wait():
    shell = FakeShell(linux_mesh3())
    probe(shell)
    assert ("n0", ("ping", "-6", "-c", "2", "-W", "1", "ff02::1%en2")) in shell.calls


def test_macos_pings_with_ping6_on_the_scoped_address():
    assert ping_argv("Darwin", "en2") == ["ping6", "-c", "2", "ff02::1%en2"]


def test_a_fresh_node_port_without_fe80_is_reported_not_onboarded_and_its_cable_is_missing():
    result = probe(FakeShell(linux_mesh3(fresh_port=(2, 3))))
    assert any(p.startswith("n2 en3: not onboarded") for p in result.problems)
    assert Cable("n1", "en3", "n2", "en3") not in result.cables


def test_a_port_without_a_link_is_not_pinged():
    outputs = linux_mesh3()
    outputs[("n0", LINUX_ADDR)] = s.linux_ip_j_addr(0, {2: {}, 3: {}, 4: {"up": False}}, "10.0.0.11")
    shell = FakeShell(outputs)
    probe(shell)
    assert ("n0", tuple(ping_argv("Linux", "en4"))) not in shell.calls


def test_an_unreachable_node_is_a_problem_and_the_other_nodes_are_still_probed():
    outputs = linux_mesh3()
    outputs[("n2", ("uname", "-s"))] = ConnectionRefusedError("ssh: connect to host 10.0.0.13 port 22")
    result = probe(FakeShell(outputs))
    assert result.problems[0].startswith("n2: could not probe it") and Cable("n0", "en2", "n1", "en2") in result.cables


def test_an_os_that_is_neither_macos_nor_linux_is_a_problem():
    outputs = linux_mesh3()
    outputs[("n1", ("uname", "-s"))] = "FreeBSD\n"
    assert "n1: cannot probe FreeBSD (macOS or Linux only)" in probe(FakeShell(outputs)).problems


def test_an_iproute_without_json_falls_back_to_the_text_output():
    outputs = {("n0", ("uname", "-s")): "Linux\n", ("n0", ("ip", "addr", "show")): s.IP_ADDR_SHOW,
               ("n0", ("ip", "-6", "neigh", "show")): s.IP_6_NEIGH}
    result = probe(FakeShell(outputs), n=1)
    assert [(p.iface, p.fe80) for p in result.ports] == [("en2", "fe80::ff:fe00:102")]


def test_a_node_with_no_thunderbolt_port_is_a_problem():
    outputs = linux_mesh3()
    outputs[("n1", LINUX_ADDR)] = s.linux_ip_j_addr(1, {}, "10.0.0.12")
    assert "n1: no Thunderbolt ports found" in probe(FakeShell(outputs)).problems


# --- macOS --------------------------------------------------------------------------------

def mac_outputs(node: int, peer: int) -> dict:
    """A Mac whose Thunderbolt 1 (en2) is cabled to the other Mac's en2; Thunderbolt 2 is empty."""
    mac, peer_mac = s.mac_of(node, 2), s.mac_of(peer, 2)
    hw = (f"\nHardware Port: Ethernet\nDevice: en0\nEthernet Address: {s.mac_of(node, 0)}\n"
          f"\nHardware Port: Thunderbolt Bridge\nDevice: bridge0\nEthernet Address: {s.mac_of(node, 0x99)}\n"
          f"\nHardware Port: Thunderbolt 1\nDevice: en2\nEthernet Address: {mac}\n"
          f"\nHardware Port: Thunderbolt 2\nDevice: en3\nEthernet Address: {s.mac_of(node, 3)}\n")
    ifconfig = (f"en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n\tether {s.mac_of(node, 0)}\n"
                f"\tinet 10.0.0.{node + 11} netmask 0xffffff00 broadcast 10.0.0.255\n\tstatus: active\n"
                f"en2: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n\tether {mac}\n"
                f"\tinet6 {s.eui64_fe80(mac)}%en2 prefixlen 64 scopeid 0x8\n\tstatus: active\n"
                f"en3: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500\n"
                f"\tether {s.mac_of(node, 3)}\n\tstatus: inactive\n")
    ndp = ("Neighbor                      Linklayer Address  Netif Expire    S Flags\n"
           f"{s.eui64_fe80(mac)}%en2      {mac}    en2 permanent R\n"
           f"{s.eui64_fe80(peer_mac)}%en2 {peer_mac}    en2 23h59m58s S\n")
    name = f"n{node}"
    return {(name, ("uname", "-s")): "Darwin\n", (name, ("networksetup", "-listallhardwareports")): hw,
            (name, ("ifconfig",)): ifconfig, (name, ("ndp", "-an")): ndp}


def test_two_macs_cabled_port_to_port_are_found_through_networksetup_ifconfig_and_ndp():
    shell = FakeShell(mac_outputs(0, 1) | mac_outputs(1, 0))
    result = probe(shell, n=2)
    assert result.cables == [Cable("n0", "en2", "n1", "en2"), Cable("n1", "en2", "n0", "en2")]
    assert result.problems == [] and ("n0", ("ping6", "-c", "2", "ff02::1%en2")) in shell.calls


def test_on_macos_the_hardware_port_name_is_kept_for_each_port():
    result = probe(FakeShell(mac_outputs(0, 1) | mac_outputs(1, 0)), n=2)
    assert [(p.iface, p.hardware_port, p.up) for p in result.ports if p.node == "n0"] == [
        ("en2", "Thunderbolt 1", True), ("en3", "Thunderbolt 2", False)]
