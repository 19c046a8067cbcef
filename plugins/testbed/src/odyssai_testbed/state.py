"""``STATE/testbed.json``: what a testbed that is up is made of, for later processes.

``odyssai testbed down``/``status``/``cable``, the reboot helper and ``Testbed.open`` read it;
``up`` writes it after registering and ``down`` removes it last.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import plan
from .errors import TestbedError
from .plan import Cable

STATE_FILE = "testbed.json"


@dataclass
class Record:
    """A testbed as saved: enough to find and operate every part of it."""

    id: str
    name: str
    state_dir: Path
    subnet: str
    nodes: list[str]
    cables: list[Cable]
    persistent: bool = False
    topologies: list[dict[str, str]] = field(default_factory=list)  # [{"path":..., "cluster":...}]

    def namespace(self, node: str) -> str:
        self.index(node)
        return plan.namespace(self.id, node)

    def index(self, node: str) -> int:
        """1-based number of ``node`` (its host part on the bridge)."""
        try:
            return self.nodes.index(node) + 1
        except ValueError:
            raise TestbedError(f"no node {node!r} in testbed {self.name!r}",
                               hint=f"nodes are: {', '.join(self.nodes)}") from None

    def node_ip(self, node: str) -> str:
        return plan.node_ip(self.subnet, self.index(node))

    def to_json(self) -> str:
        d: dict[str, Any] = {"version": 1, "id": self.id, "name": self.name, "state_dir": str(self.state_dir),
                             "subnet": self.subnet, "nodes": self.nodes,
                             "cables": [c.to_dict() for c in self.cables], "persistent": self.persistent,
                             "topologies": self.topologies}
        return json.dumps(d, indent=2)

    def save(self) -> None:
        path = self.state_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json())
        os.replace(tmp, path)


def load(state_dir: Path) -> Record:
    """Read the record in ``state_dir``; a missing one means the testbed is not up."""
    path = Path(state_dir) / STATE_FILE
    try:
        d = json.loads(path.read_text())
    except FileNotFoundError:
        raise TestbedError(f"no testbed is up in {state_dir}", hint="odyssai testbed up") from None
    except (OSError, ValueError) as e:
        raise TestbedError(f"{path} is unreadable: {e}".splitlines()[0]) from None
    return Record(id=d["id"], name=d["name"], state_dir=Path(d["state_dir"]), subnet=d["subnet"],
                  nodes=list(d["nodes"]), cables=[plan.cable_from_dict(c) for c in d["cables"]],
                  persistent=bool(d.get("persistent")), topologies=list(d.get("topologies", [])))
