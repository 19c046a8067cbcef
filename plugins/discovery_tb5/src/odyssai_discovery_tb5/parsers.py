"""Parsers for what the probe reads on a node: ports, addresses, neighbours.

Pure functions from a command's output to plain data:

- macOS: ``networksetup -listallhardwareports``, ``ifconfig``, ``ndp -an``;
- Linux (the testbed): ``ip -j addr`` / ``ip addr show`` / ``ip -6 addr show``, and
  ``ip -j -6 neigh`` / ``ip -6 neigh show [dev X]``.

Addresses come out normalised: an fe80 address without its ``%zone`` in compressed form, a MAC
in lower case with two digits per octet (macOS prints ``1e:2:3b:...``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field

_MAC_RE = re.compile(r"^[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2}){5}$")


def normalize_mac(text: str | None) -> str | None:
    """``1e:2:3B:4d:5e:6f`` -> ``1e:02:3b:4d:5e:6f``; anything else (``(incomplete)``) -> None."""
    if not text or not _MAC_RE.match(text):
        return None
    return ":".join(f"{int(octet, 16):02x}" for octet in text.split(":"))


def normalize_fe80(text: str | None) -> str | None:
    """An IPv6 link-local address without zone or prefix, compressed; None if it is not one."""
    if not text:
        return None
    addr = text.split("%", 1)[0].split("/", 1)[0]
    try:
        ip = ipaddress.IPv6Address(addr)
    except ValueError:
        return None
    return str(ip) if ip.is_link_local else None


@dataclass(frozen=True)
class HardwarePort:
    """One entry of ``networksetup -listallhardwareports``."""

    name: str
    device: str
    mac: str | None = None

    @property
    def is_thunderbolt_port(self) -> bool:
        """A Thunderbolt receptacle ("Thunderbolt 1"), not the bridge over them."""
        return re.fullmatch(r"Thunderbolt \d+", self.name) is not None


@dataclass
class Interface:
    """One network interface as ``ifconfig`` or ``ip addr`` shows it.

    ``up`` means it has a link (macOS ``status: active``; Linux ``LOWER_UP``), ``fe80`` is its
    first IPv6 link-local address, ``members`` the interfaces of a bridge.
    """

    name: str
    mac: str | None = None
    fe80: str | None = None
    up: bool = False
    ipv4: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Neighbour:
    """An entry of a neighbour table: ``addr`` answered on ``iface`` from ``mac``.

    ``own`` marks the node's own addresses (``ndp`` lists them as ``permanent``).
    """

    iface: str
    addr: str
    mac: str | None
    state: str = ""
    own: bool = False


# --- macOS --------------------------------------------------------------------------------

def parse_hardware_ports(text: str) -> list[HardwarePort]:
    """``networksetup -listallhardwareports``: blocks of Hardware Port / Device / Ethernet Address."""
    ports: list[HardwarePort] = []
    name = device = mac = None
    for raw in text.splitlines() + [""]:
        line = raw.strip()
        if line.startswith("Hardware Port:"):
            name, device, mac = line.split(":", 1)[1].strip(), None, None
        elif line.startswith("Device:") and name is not None:
            device = line.split(":", 1)[1].strip()
        elif line.startswith("Ethernet Address:") and name is not None:
            mac = normalize_mac(line.split(":", 1)[1].strip())
        elif not line and name is not None:
            if device:
                ports.append(HardwarePort(name, device, mac))
            name = device = mac = None
    return ports


_IFCONFIG_HEAD = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+): flags=\d+<(?P<flags>[^>]*)>")


def parse_ifconfig(text: str) -> dict[str, Interface]:
    """macOS ``ifconfig``: per interface its MAC, first fe80, link status and bridge members."""
    out: dict[str, Interface] = {}
    cur: Interface | None = None
    for line in text.splitlines():
        head = _IFCONFIG_HEAD.match(line)
        if head:
            flags = head.group("flags").split(",")
            cur = out[head.group("name")] = Interface(head.group("name"), up="RUNNING" in flags)
            continue
        if cur is None or not line[:1].isspace():
            continue
        words = line.split()
        if not words:
            continue
        if words[0] == "ether" and len(words) > 1:
            cur.mac = normalize_mac(words[1])
        elif words[0] == "inet6" and len(words) > 1 and cur.fe80 is None:
            cur.fe80 = normalize_fe80(words[1])
        elif words[0] == "inet" and len(words) > 1:
            cur.ipv4.append(words[1])
        elif words[0] == "status:" and len(words) > 1:
            cur.up = words[1] == "active"
        elif words[0] == "member:" and len(words) > 1:
            cur.members.append(words[1])
    return out


def parse_ndp(text: str) -> list[Neighbour]:
    """macOS ``ndp -an``: Neighbor, Linklayer Address, Netif, Expire, S(tate), Flags."""
    out: list[Neighbour] = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] == "Neighbor":
            continue
        addr = normalize_fe80(words[0]) or words[0].split("%", 1)[0]
        mac = normalize_mac(words[1])
        if mac is None:  # (incomplete)
            continue
        expire = words[3] if len(words) > 3 else ""
        state = words[4] if len(words) > 4 else ""
        out.append(Neighbour(iface=words[2], addr=addr, mac=mac, state=state, own=expire == "permanent"))
    return out


# --- Linux --------------------------------------------------------------------------------

def parse_ip_addr_json(text: str) -> dict[str, Interface]:
    """``ip -j addr``: a JSON list of links with ``flags`` and ``addr_info``."""
    out: dict[str, Interface] = {}
    for link in json.loads(text or "[]"):
        name = link.get("ifname")
        if not name:
            continue
        iface = Interface(name, mac=normalize_mac(link.get("address")),
                          up="LOWER_UP" in (link.get("flags") or []) and "UP" in (link.get("flags") or []))
        for a in link.get("addr_info") or []:
            if a.get("family") == "inet6" and iface.fe80 is None and not a.get("dadfailed"):
                iface.fe80 = normalize_fe80(a.get("local"))
            elif a.get("family") == "inet" and a.get("local"):
                iface.ipv4.append(a["local"])
        out[name] = iface
    return out


_IP_HEAD = re.compile(r"^\d+:\s+(?P<name>[^:@\s]+)(?:@\S+)?:\s+<(?P<flags>[^>]*)>")


def parse_ip_addr(text: str) -> dict[str, Interface]:
    """``ip addr show`` or ``ip -6 addr show`` (text). ``-6`` omits the MAC lines."""
    out: dict[str, Interface] = {}
    cur: Interface | None = None
    for line in text.splitlines():
        head = _IP_HEAD.match(line)
        if head:
            flags = head.group("flags").split(",")
            cur = out[head.group("name")] = Interface(head.group("name"), up="LOWER_UP" in flags and "UP" in flags)
            continue
        words = line.split()
        if cur is None or not words:
            continue
        if words[0] == "link/ether" and len(words) > 1:
            cur.mac = normalize_mac(words[1])
        elif words[0] == "inet6" and len(words) > 1 and cur.fe80 is None and "dadfailed" not in words:
            cur.fe80 = normalize_fe80(words[1])
        elif words[0] == "inet" and len(words) > 1:
            cur.ipv4.append(words[1].split("/", 1)[0])
    return out


_NEIGH_STATES = {"PERMANENT", "NOARP", "REACHABLE", "STALE", "NONE", "INCOMPLETE", "DELAY", "PROBE", "FAILED"}


def parse_ip_neigh(text: str, dev: str | None = None) -> list[Neighbour]:
    """``ip -6 neigh show`` (lines name their ``dev``) or ``ip -6 neigh show dev X`` (pass ``dev``)."""
    out: list[Neighbour] = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        addr = normalize_fe80(words[0]) or words[0]
        iface, mac, state = dev, None, ""
        i = 1
        while i < len(words):
            w = words[i]
            if w in ("dev", "lladdr") and i + 1 < len(words):
                if w == "dev":
                    iface = words[i + 1]
                else:
                    mac = normalize_mac(words[i + 1])
                i += 2
                continue
            if w in _NEIGH_STATES:
                state = w
            i += 1
        if iface and mac:
            out.append(Neighbour(iface=iface, addr=addr, mac=mac, state=state, own=state == "PERMANENT"))
    return out


def parse_ip_neigh_json(text: str) -> list[Neighbour]:
    """``ip -j -6 neigh``: a JSON list of ``dst``, ``dev``, ``lladdr``, ``state``."""
    out: list[Neighbour] = []
    for entry in json.loads(text or "[]"):
        mac = normalize_mac(entry.get("lladdr"))
        if not entry.get("dev") or mac is None:
            continue
        state = entry.get("state") or []
        state = state[0] if isinstance(state, list) and state else str(state or "")
        out.append(Neighbour(iface=entry["dev"], addr=normalize_fe80(entry.get("dst")) or entry.get("dst", ""),
                             mac=mac, state=state, own=state == "PERMANENT"))
    return out
