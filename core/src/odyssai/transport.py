"""What a transport is: how ranks of one cluster find each other, and how its failures read.

A transport plugin registers a ``Transport`` under a unique ``name`` (the ``backend:`` of a
cluster in ``topology.yaml``). Core asks it for each rank's environment and config files before
spawning, and hands it a failed rank's output to classify.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Mapping

from pathlib import Path

if TYPE_CHECKING:
    from .discovery import RunOnNode
    from .topology import Cluster


@dataclass
class RankSetup:
    """What one rank needs from its transport before it starts.

    ``env`` is set in the runner's environment. Each entry of ``files`` is written to a file on
    the rank's node first, and the environment variable named by its key is set to that path.
    """

    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class Failure:
    """A classified failure of a rank or cluster: what happened and what to do.

    ``action`` is machine-readable (e.g. ``"reboot"``) so a remediation plugin can offer it.
    """

    kind: str
    message: str
    remedy: str
    transport: str = ""
    rank: int | None = None
    node: str | None = None
    action: str | None = None
    errno: int | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class Transport:
    """Base class of transports. Subclasses set ``name`` and ``mlx_backend``."""

    name: ClassVar[str] = ""
    #: the backend name passed to ``mx.distributed.init(backend=...)`` in the runner
    mlx_backend: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def check(self, cluster_name: str, cluster: "Cluster",
              others: Mapping[str, "Cluster"] | None = None) -> None:
        """Raise a ``ConfigError`` when this cluster cannot run on this transport.

        :param others: the other clusters of the same topology (e.g. to keep clear of the ports
            they use on shared nodes); None when the caller does not know them.
        """

    def rank_setup(self, cluster_name: str, cluster: "Cluster", rank: int,
                   others: Mapping[str, "Cluster"] | None = None) -> RankSetup:
        """The environment and files of ``rank`` (its position in ``cluster.nodes``).

        :param others: as for ``check``: the same clusters ``check`` was given for this load.
        """
        raise NotImplementedError

    def classify(self, text: str, *, rank: int | None = None, node: str | None = None) -> Failure | None:
        """Read a rank's error output; return a typed failure, or None if not recognised."""
        return None

    def root_cause(self, failures: list[Failure]) -> Failure | None:
        """Of the failures several ranks reported for one load, the one to show the user."""
        with_action = [f for f in failures if f.action]
        return (with_action or failures or [None])[0]

    async def prepare(self, cluster_name: str, cluster: "Cluster", run: "RunOnNode",
                      state_dir: Path) -> list[str]:
        """Called before every load with a way to run commands on the nodes; returns warnings.

        :param run: ``await run(node, argv)`` runs ``argv`` on a node and returns its result.
        :param state_dir: a directory this transport may keep state in (e.g. load counts).
        """
        return []


def default_port_base(cluster_name: str, low: int = 32000, slots: int = 2000, width: int = 16) -> int:
    """A port range derived from the cluster name, so that clusters sharing nodes don't collide.

    Pure and stable across processes (no ``hash()`` randomisation).
    """
    digest = int.from_bytes(hashlib.sha256(cluster_name.encode()).digest()[:4], "big")
    return low + (digest % slots) * width
