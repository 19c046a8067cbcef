"""Command outputs the discovery tests replay.

Linux: captured with iproute2 6.1.0 on this Linux box, in two network namespaces joined by a
veth pair named like the testbed's cables (en2 <-> en3), then deleted.

macOS: written from the documented formats of networksetup(8), ifconfig(8) and ndp(8), NOT
captured on a Mac (there are none here). Their addresses are made up.
"""

from __future__ import annotations

import json

# --- Linux, captured ------------------------------------------------------------------------

IP_J_ADDR = (
    '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue",'
    '"operstate":"UNKNOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00",'
    '"broadcast":"00:00:00:00:00:00","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,'
    '"scope":"host","label":"lo","valid_life_time":4294967295,"preferred_life_time":4294967295},'
    '{"family":"inet6","local":"::1","prefixlen":128,"scope":"host","valid_life_time":4294967295,'
    '"preferred_life_time":4294967295}]},{"ifindex":2,"link_index":2,"ifname":"en2","flags":["BROADCAST",'
    '"MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default",'
    '"txqlen":1000,"link_type":"ether","address":"02:00:00:00:01:02","broadcast":"ff:ff:ff:ff:ff:ff",'
    '"link_netnsid":0,"addr_info":[{"family":"inet6","local":"fe80::ff:fe00:102","prefixlen":64,'
    '"scope":"link","valid_life_time":4294967295,"preferred_life_time":4294967295}]}]\n')

IP_J_ADDR_NO_CARRIER = (
    '[{"ifindex":2,"link_index":2,"ifname":"en2","flags":["NO-CARRIER","BROADCAST","MULTICAST","UP"],'
    '"mtu":1500,"qdisc":"noqueue","operstate":"DOWN","group":"default","txqlen":1000,"link_type":"ether",'
    '"address":"02:00:00:00:01:02","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"addr_info":[{"family":'
    '"inet6","local":"fe80::ff:fe00:102","prefixlen":64,"scope":"link","valid_life_time":4294967295,'
    '"preferred_life_time":4294967295}]}]\n')

#: ``addrgenmode none``: the testbed's fresh node
IP_J_ADDR_NO_FE80 = (
    '[{"ifindex":2,"link_index":3,"ifname":"en4","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],'
    '"mtu":1500,"qdisc":"noqueue","operstate":"UP","group":"default","txqlen":1000,"link_type":"ether",'
    '"address":"02:00:00:00:03:04","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0,"addr_info":[]}]\n')

IP_ADDR_SHOW = """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
       valid_lft forever preferred_lft forever
    inet6 ::1/128 scope host 
       valid_lft forever preferred_lft forever
2: en2@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
    link/ether 02:00:00:00:01:02 brd ff:ff:ff:ff:ff:ff link-netns odx-cap-b
    inet6 fe80::ff:fe00:102/64 scope link 
       valid_lft forever preferred_lft forever
"""

IP_6_ADDR_SHOW = """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 state UNKNOWN qlen 1000
    inet6 ::1/128 scope host 
       valid_lft forever preferred_lft forever
2: en2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP qlen 1000
    inet6 fe80::ff:fe00:102/64 scope link 
       valid_lft forever preferred_lft forever
"""

IP_J_6_NEIGH = '[{"dst":"fe80::ff:fe00:203","dev":"en2","lladdr":"02:00:00:00:02:03","state":["DELAY"]}]\n'
IP_6_NEIGH = "fe80::ff:fe00:203 dev en2 lladdr 02:00:00:00:02:03 DELAY \n"
IP_6_NEIGH_DEV = "fe80::ff:fe00:203 lladdr 02:00:00:00:02:03 DELAY \n"

# --- macOS, written from the documented formats ----------------------------------------------

NETWORKSETUP_HARDWARE_PORTS = """
Hardware Port: Ethernet
Device: en0
Ethernet Address: 1c:1d:d3:e0:11:22

Hardware Port: Wi-Fi
Device: en1
Ethernet Address: 1c:1d:d3:e0:11:23

Hardware Port: Thunderbolt Bridge
Device: bridge0
Ethernet Address: 36:9a:12:34:56:00

Hardware Port: Thunderbolt 1
Device: en2
Ethernet Address: 1e:2a:3b:4d:5e:6f

Hardware Port: Thunderbolt 2
Device: en3
Ethernet Address: 36:9a:12:34:56:02

Hardware Port: Thunderbolt 3
Device: en4
Ethernet Address: 36:9a:12:34:56:03

VLAN Configurations
===================
"""

IFCONFIG = """\
lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
\toptions=1203<RXCSUM,TXCSUM,TXSTATUS,SW_TIMESTAMP>
\tinet 127.0.0.1 netmask 0xff000000
\tinet6 ::1 prefixlen 128
\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1
\tnd6 options=201<PERFORMNUD,DAD>
en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\toptions=50b<RXCSUM,TXCSUM,VLAN_HWTAGGING,AV,CHANNEL_IO>
\tether 1c:1d:d3:e0:11:22
\tinet6 fe80::c3a:9f1b:2d4e:77a1%en0 prefixlen 64 secured scopeid 0x6
\tinet 10.0.0.11 netmask 0xffffff00 broadcast 10.0.0.255
\tnd6 options=201<PERFORMNUD,DAD>
\tmedia: autoselect (10GbaseT <full-duplex>)
\tstatus: active
en2: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\toptions=460<TSO4,TSO6,CHANNEL_IO>
\tether 1e:2a:3b:4d:5e:6f
\tinet6 fe80::1c2a:3bff:fe4d:5e6f%en2 prefixlen 64 scopeid 0x8
\tnd6 options=201<PERFORMNUD,DAD>
\tmedia: autoselect <full-duplex>
\tstatus: active
en3: flags=8963<UP,BROADCAST,SMART,RUNNING,PROMISC,SIMPLEX,MULTICAST> mtu 1500
\toptions=460<TSO4,TSO6,CHANNEL_IO>
\tether 36:9a:12:34:56:02
\tmedia: autoselect <full-duplex>
\tstatus: active
en4: flags=8963<UP,BROADCAST,SMART,RUNNING,PROMISC,SIMPLEX,MULTICAST> mtu 1500
\toptions=460<TSO4,TSO6,CHANNEL_IO>
\tether 36:9a:12:34:56:03
\tmedia: autoselect <full-duplex>
\tstatus: inactive
bridge0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\toptions=63<RXCSUM,TXCSUM,TSO4,TSO6>
\tether 36:9a:12:34:56:00
\tConfiguration:
\t\tid 0:0:0:0:0:0 priority 0 hellotime 0 fwddelay 0
\t\tmaxage 0 holdcnt 0 proto stp maxaddr 100 timeout 1200
\t\troot id 0:0:0:0:0:0 priority 0 ifcost 0 port 0
\t\tipfilter disabled flags 0x0
\tmember: en3 flags=3<LEARNING,DISCOVER>
\t        ifmaxaddr 0 port 9 priority 0 path cost 0
\tmember: en4 flags=3<LEARNING,DISCOVER>
\t        ifmaxaddr 0 port 10 priority 0 path cost 0
\tnd6 options=201<PERFORMNUD,DAD>
\tmedia: <unknown type>
\tstatus: active
"""

NDP_AN = """\
Neighbor                                Linklayer Address  Netif Expire    S Flags
fe80::1%lo0                             (incomplete)         lo0 permanent R
fe80::c3a:9f1b:2d4e:77a1%en0            1c:1d:d3:e0:11:22    en0 permanent R
fe80::1c2a:3bff:fe4d:5e6f%en2           1e:2a:3b:4d:5e:6f    en2 permanent R
fe80::8c2d:5eff:fe11:2233%en2           8e:2d:5e:11:22:33    en2 23h59m58s S
fe80::aa:bbff:fecc:ddee%en3             (incomplete)         en3 expired   N
"""


# --- a generated cluster, for probe tests ---------------------------------------------------

def mac_of(node: int, port: int) -> str:
    return f"02:00:00:00:{node:02x}:{port:02x}"


def eui64_fe80(mac: str) -> str:
    """The fe80 address Linux and macOS derive from a MAC (EUI-64), as ``ip`` prints it."""
    import ipaddress

    o = [int(x, 16) for x in mac.split(":")]
    o[0] ^= 0x02
    raw = bytes([0xfe, 0x80, 0, 0, 0, 0, 0, 0, *o[:3], 0xff, 0xfe, *o[3:]])
    return str(ipaddress.IPv6Address(raw))


def linux_ip_j_addr(node: int, ports: dict[int, dict], ethernet_ip: str) -> str:
    """``ip -j addr`` of a testbed node: eth0 with ``ethernet_ip``, and en<port> cable ports.

    ``ports[port]`` may set ``fe80=False`` (addrgenmode none) and ``up=False`` (no carrier).
    """
    links = [{"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "operstate": "UNKNOWN",
              "link_type": "loopback", "address": "00:00:00:00:00:00",
              "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]},
             {"ifindex": 2, "ifname": "eth0", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"],
              "operstate": "UP", "link_type": "ether", "address": mac_of(node, 0xee),
              "addr_info": [{"family": "inet", "local": ethernet_ip, "prefixlen": 24, "scope": "global"},
                            {"family": "inet6", "local": eui64_fe80(mac_of(node, 0xee)), "prefixlen": 64,
                             "scope": "link"}]}]
    for port, opts in sorted(ports.items()):
        mac = mac_of(node, port)
        up = opts.get("up", True)
        links.append({"ifindex": 10 + port, "ifname": f"en{port}",
                      "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"] if up else
                               ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"],
                      "operstate": "UP" if up else "DOWN", "link_type": "ether", "address": mac,
                      "addr_info": [{"family": "inet6", "local": eui64_fe80(mac), "prefixlen": 64, "scope": "link"}]
                      if opts.get("fe80", True) else []})
    return json.dumps(links)


def linux_ip_j_neigh(entries: list[tuple[str, str]]) -> str:
    """``ip -j -6 neigh`` with one entry per (dev, peer mac)."""
    return json.dumps([{"dst": eui64_fe80(mac), "dev": dev, "lladdr": mac, "state": ["REACHABLE"]}
                       for dev, mac in entries])
