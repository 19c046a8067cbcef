"""Reading JACCL's error output: which failure it is, and what to do about it.

Pure functions over text. Each pattern matches an error MLX's jaccl backend prints (its
``[jaccl]`` messages come from mlx/distributed/jaccl and from the TCP side channel in
mlx/distributed/utils.cpp; the errnos are macOS's). Patterns are tried in order of how close
they are to a root cause, so that a rank whose output holds both a queue-pair error and the
side-channel error that followed it is classified by the first.

Sources of the texts (upstream reports, not reproduced here: nothing ran on a Mac):
ml-explore/mlx#3162 and #4209 (10 queue pairs per device, errno 16), #3467 and #3468 (RTR errno
22, GID selection; errno 60 with the wrong GID), #4530 (stale errno 2 after a peer failed
during init; PORT_DOWN as "Couldn't allocate protection domain"), exo-explore/exo#1847 and
#1973 (errno 2/60/22 in production, RTR errno 96 after many cycles, fixed by a reboot).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from odyssai.transport import Failure

TRANSPORT = "jaccl"


@dataclass(frozen=True)
class Pattern:
    """One recognisable failure. ``errno`` is fixed, or read from the ``errno`` group."""

    kind: str
    regex: re.Pattern[str]
    message: str
    remedy: str
    action: str | None = None
    errno: int | None = None


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


REBOOT = ("reboot the affected nodes (dashboard: Reboot all, or POST /admin/<cluster>/reboot); "
          "a retry without a reboot cannot succeed")

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "backend_unavailable",
        _re(r"Cannot initialize jaccl distributed backend|jaccl backend (?:is )?not available"
            r"|\[jaccl\] You need to provide via environment variables"),
        "MLX on this node has no usable jaccl backend",
        "jaccl needs macOS 26.2+ with RDMA enabled (`rdma_ctl enable` from Recovery) and "
        "Thunderbolt 5 on every node; it does not exist on Linux: use backend: ring there"),
    Pattern(
        "queue_pairs_exhausted",
        _re(r"\[jaccl\][^\n]*\berrno[ =:]*16\b|queue pair[^\n]*\berrno[ =:]*16\b"),
        "RDMA queue pairs are exhausted on this node (errno 16, EBUSY)",
        REBOOT, action="reboot", errno=16),
    Pattern(
        "queue_pairs_exhausted",
        _re(r"\[jaccl\] Couldn't create queue pair"),
        "RDMA queue pairs are exhausted on this node (creating a queue pair failed)",
        REBOOT, action="reboot"),
    Pattern(
        "queue_pairs_degraded",
        _re(r"\[jaccl\][^\n]*\berrno[ =:]*96\b"),
        "RDMA queue pairs are degraded on this node (errno 96 at queue pair setup)",
        REBOOT, action="reboot", errno=96),
    Pattern(
        "protection_domains_exhausted",
        _re(r"\[jaccl\] Couldn't allocate protection domain"),
        "RDMA protection domains are exhausted, or this node's Thunderbolt port is down",
        "check the Thunderbolt cables of this node are seated; if they are, " + REBOOT,
        action="reboot"),
    Pattern(
        "rdma_port_not_configured",
        _re(r"\[jaccl\][^\n]*RTR[^\n]*\berrno[ =:]*22\b"),
        "a Thunderbolt port has no usable address for RDMA (errno 22 at RTR: no IPv4/fe80 GID, "
        "or bridge0 still holds the port)",
        "run `odyssai node-setup network` at the console of each node, then "
        "`odyssai topology rebuild <cluster>`; if every port has its address, upgrade MLX "
        "(0.31.x after the JACCL refactor picks the wrong GID: ml-explore/mlx#3467)",
        errno=22),
    Pattern(
        "rdma_peer_unreachable",
        _re(r"\[jaccl\][^\n]*RTR[^\n]*\berrno[ =:]*60\b"),
        "the node across a Thunderbolt link did not answer (errno 60, timed out at RTR)",
        "check the cable between the two nodes; if it moved, run `odyssai topology rebuild "
        "<cluster>`", errno=60),
    Pattern(
        "coordinator_unreachable",
        _re(r"\[jaccl\] Couldn't connect[^\n]*?(?:error|errno)[ =:]*(?P<errno>\d+)"),
        "could not reach rank 0's jaccl coordinator over Ethernet",
        "check that rank 0 started, that its 'ip:' in topology.yaml is right and reachable from "
        "this node, and that no firewall blocks the cluster's port"),
    Pattern(
        "coordinator_port_busy",
        _re(r"\[jaccl\] Couldn't listen[^\n]*?(?:error|errno)[ =:]*(?P<errno>\d+)"),
        "rank 0 could not listen on the jaccl coordinator port",
        "another process holds the port (a leftover runner?): stop it, or set a different "
        "port_base for the cluster"),
    Pattern(
        "rdma_device_unavailable",
        _re(r"\[jaccl\] Could not open device|\[jaccl\] The devices do not form a valid (?:mesh|ring)"),
        "an RDMA device named in rdma_to cannot be used on this node",
        "check `ibv_devices` on the node lists the rdma_en* devices of its cables (RDMA enabled, "
        "Thunderbolt 5), then `odyssai topology rebuild <cluster>`"),
    Pattern(
        "peer_lost",
        _re(r"\[jaccl\] (?:Recv|Send) failed with errno=(?P<errno>\d+)"),
        "this rank lost the jaccl side channel: another rank failed first (the errno is left over)",
        "read the other ranks' errors for the cause; nothing else may connect to the coordinator "
        "port; if every rank shows only this, restart the load, and reboot if it repeats"),
)

#: how close to a root cause each kind is (lower first)
PRIORITY = {kind: i for i, kind in reversed(list(enumerate(p.kind for p in PATTERNS)))}


def classify(text: str, *, rank: int | None = None, node: str | None = None) -> Failure | None:
    """The first pattern that ``text`` matches, as a Failure of the jaccl transport; else None."""
    for p in PATTERNS:
        m = p.regex.search(text or "")
        if m is None:
            continue
        errno = p.errno
        if errno is None and "errno" in p.regex.groupindex and m.group("errno"):
            errno = int(m.group("errno"))
        return Failure(kind=p.kind, message=p.message, remedy=p.remedy, transport=TRANSPORT,
                       rank=rank, node=node, action=p.action, errno=errno)
    return None


def root_cause(failures: Iterable[Failure | None]) -> Failure | None:
    """Of the classified failures of a cluster's ranks, the one closest to the cause.

    A rank that only lost its side channel (``peer_lost``) is a consequence of another rank's
    failure, so any other kind wins over it; ties go to the lowest rank.
    """
    known = [f for f in failures if f is not None]
    if not known:
        return None
    return min(known, key=lambda f: (PRIORITY.get(f.kind, len(PATTERNS)),
                                     f.rank if f.rank is not None else 1 << 30))


def reboot_nodes(failures: Iterable[Failure | None]) -> list[str]:
    """The nodes whose failure asks for a reboot, in the order given, without repeats."""
    out: list[str] = []
    for f in failures:
        if f is not None and f.action == "reboot" and f.node and f.node not in out:
            out.append(f.node)
    return out
