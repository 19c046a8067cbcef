"""Building a testbed from its record: keys and sshd files, bridge, nodes, cables, sshd.

Every interface is created in the root namespace under a temporary name carrying the testbed's
id, then moved into its node and renamed (en0, en2, ...). Making both ends of a veth in the root
namespace keeps their ifindexes distinct: a veth whose two ends share an ifindex (as two fresh
namespaces would give them) has its carrier change handled up to a second late by the kernel.
"""

from __future__ import annotations

from . import links, plan, system
from .plan import Cable
from .sshd import (client_key, keygen, known_hosts, known_hosts_line, node_dir, sshd_config, start_sshd,
                   wait_answers, write_private)
from .state import Record

NODE_SYSCTLS = {  # IPv6 on; fe80 usable at once (no DAD); no router solicitations or adverts
    "net.ipv6.conf.all.disable_ipv6": "0", "net.ipv6.conf.default.disable_ipv6": "0",
    "net.ipv6.conf.all.accept_dad": "0", "net.ipv6.conf.default.accept_dad": "0",
    "net.ipv6.conf.all.accept_ra": "0", "net.ipv6.conf.default.accept_ra": "0",
    "net.ipv6.conf.all.router_solicitations": "0", "net.ipv6.conf.default.router_solicitations": "0",
}


def build(r: Record, timeout: float) -> None:
    """Make everything ``r`` describes and wait until every sshd and fe80 address is usable."""
    r.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    r.save()
    write_ssh_files(r)
    br = plan.bridge(r.id)
    system.ip("link", "add", "name", br, "type", "bridge", "forward_delay", "0", "stp_state", "0",
              "nf_call_iptables", "0", "nf_call_ip6tables", "0", "nf_call_arptables", "0")
    system.ip("link", "set", br, "addrgenmode", "none")
    system.ip("addr", "add", f"{plan.root_ip(r.subnet)}/24", "dev", br)
    system.ip("link", "set", br, "up")
    for i, node in enumerate(r.nodes, 1):
        build_node(r, i, node, br)
    for k, cable in enumerate(r.cables):
        build_cable(r, k, cable)
    for node in r.nodes:
        start_sshd(r.state_dir, node, r.namespace(node))
    for node in r.nodes:
        wait_answers(r.node_ip(node), f"the sshd of {node}", timeout, node_dir(r.state_dir, node) / "sshd.log")
    links.wait_link_local(r, r.cables, timeout)


def write_ssh_files(r: Record) -> None:
    """A client key, and per node a host key, authorized_keys, sshd_config; then known_hosts."""
    client_pub = keygen(client_key(r.state_dir), f"odyssai-testbed-{r.name}")
    lines = []
    for node in r.nodes:
        d = node_dir(r.state_dir, node)
        host_pub = keygen(d / "ssh_host_ed25519_key", f"{node}.{r.name}")
        lines.append(known_hosts_line(r.node_ip(node), host_pub))
        write_private(d / "authorized_keys", client_pub + "\n")
        write_private(d / "sshd_config", sshd_config(r.state_dir, node, r.node_ip(node)))
        (d / "models").mkdir(exist_ok=True)
    write_private(known_hosts(r.state_dir), "\n".join(lines) + "\n")


def build_node(r: Record, index: int, node: str, br: str) -> None:
    """The namespace, ``lo``, and ``en0`` on the bridge with the node's IPv4 (no IPv6 there)."""
    ns = r.namespace(node)
    system.ip("netns", "add", ns)
    system.sysctl(ns, NODE_SYSCTLS)
    system.ip("link", "set", "lo", "up", netns=ns)
    root_end, temp = plan.ethernet_root(r.id, index), plan.ethernet_temp(r.id, index)
    system.ip("link", "add", root_end, "type", "veth", "peer", "name", temp)
    system.ip("link", "set", root_end, "addrgenmode", "none", "master", br)
    system.ip("link", "set", root_end, "up")
    system.ip("link", "set", temp, "netns", ns)
    system.ip("link", "set", temp, "name", plan.ETHERNET_PORT, "addrgenmode", "none", netns=ns)
    system.ip("addr", "add", f"{r.node_ip(node)}/24", "dev", plan.ETHERNET_PORT, netns=ns)
    system.ip("link", "set", plan.ETHERNET_PORT, "up", netns=ns)


def build_cable(r: Record, k: int, c: Cable, fresh: frozenset[str] | set[str] = frozenset()) -> None:
    """Cable ``k``: a veth pair whose ends become ``port_a`` and ``port_b`` of their nodes.

    An end on a node in ``fresh`` makes no fe80 address (as ``Testbed.make_fresh`` leaves ports).
    """
    ta, tb = plan.cable_temp(r.id, k, "a"), plan.cable_temp(r.id, k, "b")
    system.ip("link", "add", ta, "type", "veth", "peer", "name", tb)
    for temp, node, port, up in ((ta, c.node_a, c.port_a, c.up_a), (tb, c.node_b, c.port_b, c.up_b)):
        ns = r.namespace(node)
        system.ip("link", "set", temp, "netns", ns)
        system.ip("link", "set", temp, "name", port, netns=ns)
        if node in fresh:
            system.ip("link", "set", "dev", port, "addrgenmode", "none", netns=ns)
        if up:
            system.ip("link", "set", port, "up", netns=ns)
