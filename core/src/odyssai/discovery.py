"""What discovery finds: Thunderbolt ports, their link-local addresses, and cables.

A discovery plugin registers a ``Discoverer``; core calls ``probe`` with a way to run commands
on each node, turns the cables into the ``rdma_to`` matrix and validates it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, ClassVar

if TYPE_CHECKING:
    from .topology import Cluster, Node


@dataclass
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


#: runs argv on a node (quoted by core) and returns its result
RunOnNode = Callable[["Node", list[str]], Awaitable[CommandResult]]


@dataclass
class Port:
    """A Thunderbolt port of a node: its interface, and its fe80 address if it has one."""

    node: str
    iface: str
    hardware_port: str = ""
    fe80: str | None = None
    up: bool = True


@dataclass(frozen=True)
class Cable:
    """A cable seen from ``node``: its port ``iface`` reaches ``peer``'s port ``peer_iface``."""

    node: str
    iface: str
    peer: str
    peer_iface: str


@dataclass
class Probe:
    """The result of probing a cluster's wiring."""

    ports: list[Port] = field(default_factory=list)
    cables: list[Cable] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Discoverer:
    """Base class of discoverers. ``name`` is unique."""

    name: ClassVar[str] = ""

    async def probe(self, cluster_name: str, cluster: "Cluster", run: RunOnNode) -> Probe:
        raise NotImplementedError
