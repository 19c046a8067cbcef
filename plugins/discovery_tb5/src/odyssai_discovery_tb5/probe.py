"""``TB5Discoverer``: probe a cluster's nodes for Thunderbolt ports, fe80 addresses and cables.

On every node at once, in three rounds (so that every port has been pinged before any
neighbour table is read):

1. ``uname -s``, then the Thunderbolt ports and their addresses. On macOS the ports are the
   hardware ports named "Thunderbolt N" of ``networksetup -listallhardwareports``, and
   ``ifconfig`` gives their fe80, link status and bridge0 membership. On Linux (the testbed)
   they are the interfaces named ``en<digits>`` of ``ip -j addr`` that do not carry the
   node's Ethernet IPv4; the testbed names its cable ports en2, en3, ... and its Ethernet
   veth otherwise.
2. A ping to all-nodes multicast (``ff02::1%port``) on each port that has a link and an fe80,
   so that the neighbour at the other end answers and lands in the neighbour table.
3. The neighbour table: ``ndp -an`` on macOS, ``ip -j -6 neigh`` on Linux.

Then ``matching.match_cables`` turns the views into cables and problems.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING

import anyio
from odyssai.discovery import CommandResult, Discoverer, Probe, RunOnNode
from odyssai.errors import OdyssaiError
from odyssai.names import IFACE_RE

from .matching import NodeView, PortInfo, match_cables
from .parsers import (
    Interface,
    Neighbour,
    parse_hardware_ports,
    parse_ifconfig,
    parse_ip_addr,
    parse_ip_addr_json,
    parse_ip_neigh,
    parse_ip_neigh_json,
    parse_ndp,
)

if TYPE_CHECKING:
    from odyssai.topology import Cluster, Node

LINUX_PORT_RE = re.compile(r"^en\d+$")


def ping_argv(os_name: str, iface: str, count: int = 2) -> list[str]:
    """The ping to all nodes on the link of ``iface`` that fills the neighbour table."""
    if os_name == "Darwin":
        return ["ping6", "-c", str(count), f"ff02::1%{iface}"]
    return ["ping", "-6", "-c", str(count), "-W", "1", f"ff02::1%{iface}"]


def macos_ports(node: str, hardware_ports_text: str, ifconfig_text: str) -> list[PortInfo]:
    """The Thunderbolt ports of a Mac, from ``networksetup -listallhardwareports`` and ``ifconfig``."""
    ifaces = parse_ifconfig(ifconfig_text)
    bridged = {m for i in ifaces.values() for m in i.members}
    out = []
    for hw in parse_hardware_ports(hardware_ports_text):
        if not hw.is_thunderbolt_port:
            continue
        i = ifaces.get(hw.device, Interface(hw.device))
        out.append(PortInfo(node=node, iface=hw.device, mac=i.mac or hw.mac, fe80=i.fe80, up=i.up,
                            hardware_port=hw.name, bridged=hw.device in bridged))
    return out


def linux_ports(node: str, ifaces: dict[str, Interface], ethernet_ip: str | None) -> list[PortInfo]:
    """The testbed's cable ports: ``en<digits>`` interfaces that do not carry the Ethernet IPv4."""
    return [PortInfo(node=node, iface=i.name, mac=i.mac, fe80=i.fe80, up=i.up)
            for name, i in sorted(ifaces.items())
            if LINUX_PORT_RE.match(name) and (ethernet_ip is None or ethernet_ip not in i.ipv4)]


def _ethernet_ip(node: Node) -> str | None:
    try:
        return node.ethernet_ip
    except OdyssaiError:
        return None


def _why(result: CommandResult) -> str:
    text = (result.stderr or result.stdout).strip().splitlines()
    return text[-1] if text else f"exit {result.exit_status}"


class TB5Discoverer(Discoverer):
    """Thunderbolt 5 cables found by IPv6 neighbour discovery on each port."""

    name = "tb5"

    def __init__(self, ping_count: int = 2):
        self.ping_count = ping_count

    async def probe(self, cluster_name: str, cluster: Cluster, run: RunOnNode) -> Probe:
        problems: dict[str, list[str]] = defaultdict(list)  # by node, reported in node order
        os_of: dict[str, str] = {}
        views: dict[str, NodeView] = {}

        async def read_ports(node: Node) -> None:
            try:
                uname = await run(node, ["uname", "-s"])
                if uname.exit_status != 0:
                    problems[node.name].append(f"{node.name}: could not probe it: {_why(uname)}")
                    return
                os_name = uname.stdout.strip()
                if os_name == "Darwin":
                    hw = await run(node, ["networksetup", "-listallhardwareports"])
                    ifc = await run(node, ["ifconfig"])
                    if hw.exit_status != 0 or ifc.exit_status != 0:
                        failed = hw if hw.exit_status != 0 else ifc
                        problems[node.name].append(f"{node.name}: could not list its ports: {_why(failed)}")
                        return
                    ports = macos_ports(node.name, hw.stdout, ifc.stdout)
                elif os_name == "Linux":
                    ifaces = await self._linux_addresses(node, run)
                    if ifaces is None:
                        problems[node.name].append(f"{node.name}: could not list its ports with `ip addr`")
                        return
                    ports = linux_ports(node.name, ifaces, _ethernet_ip(node))
                else:
                    problems[node.name].append(
                        f"{node.name}: cannot probe {os_name or 'an unknown OS'} (macOS or Linux only)")
                    return
            except Exception as e:  # an unreachable node must not hide the others' cables
                problems[node.name].append(f"{node.name}: could not probe it: {e}")
                return
            if not ports:
                problems[node.name].append(f"{node.name}: no Thunderbolt ports found")
            os_of[node.name] = os_name
            views[node.name] = NodeView(node.name, ports)

        async def ping(node: Node, port: PortInfo) -> None:
            if not IFACE_RE.match(port.iface):
                problems[node.name].append(f"{node.name}: skipped port {port.iface!r}: not an interface name")
                return
            try:
                await run(node, ping_argv(os_of[node.name], port.iface, self.ping_count))
            except Exception as e:
                problems[node.name].append(f"{node.name} {port.iface}: ping failed: {e}")

        async def read_neighbours(node: Node) -> None:
            try:
                if os_of[node.name] == "Darwin":
                    r = await run(node, ["ndp", "-an"])
                    neighbours = parse_ndp(r.stdout) if r.exit_status == 0 else None
                else:
                    neighbours = await self._linux_neighbours(node, run)
            except Exception:
                neighbours = None
            if neighbours is None:
                problems[node.name].append(f"{node.name}: could not read its neighbour table")
                return
            views[node.name].neighbours = neighbours

        async with anyio.create_task_group() as tg:
            for node in cluster.nodes:
                tg.start_soon(read_ports, node)
        probed = [n for n in cluster.nodes if n.name in views]
        async with anyio.create_task_group() as tg:
            for node in probed:
                for port in views[node.name].ports:
                    if port.up and port.fe80:
                        tg.start_soon(ping, node, port)
        async with anyio.create_task_group() as tg:
            for node in probed:
                tg.start_soon(read_neighbours, node)

        ordered = [views[n.name] for n in probed]
        matching = match_cables(ordered)
        return Probe(ports=[p.to_port() for v in ordered for p in v.ports],
                     cables=matching.cables,
                     problems=[m for n in cluster.nodes for m in problems.get(n.name, [])] + matching.problems)

    @staticmethod
    async def _linux_addresses(node: Node, run: RunOnNode) -> dict[str, Interface] | None:
        r = await run(node, ["ip", "-j", "addr", "show"])
        if r.exit_status == 0:
            try:
                return parse_ip_addr_json(r.stdout)
            except (ValueError, AttributeError):
                pass
        r = await run(node, ["ip", "addr", "show"])  # an iproute2 without JSON output
        return parse_ip_addr(r.stdout) if r.exit_status == 0 else None

    @staticmethod
    async def _linux_neighbours(node: Node, run: RunOnNode) -> list[Neighbour] | None:
        r = await run(node, ["ip", "-j", "-6", "neigh", "show"])
        if r.exit_status == 0:
            try:
                return parse_ip_neigh_json(r.stdout)
            except (ValueError, AttributeError):
                pass
        r = await run(node, ["ip", "-6", "neigh", "show"])
        return parse_ip_neigh(r.stdout) if r.exit_status == 0 else None

