"""Which testbeds exist on this machine, so that two never collide and leftovers are found.

One JSON file per testbed in ``/run/odyssai-testbed/<id>.json`` (``/run`` is emptied at boot,
as are namespaces), written under an exclusive lock on ``/run/odyssai-testbed/lock`` *before*
the testbed creates anything and removed only after everything is gone. An entry is a leftover
when the process that owns it is dead, unless the testbed was made to outlive its process
(``odyssai testbed up``), in which case only ``down`` removes it.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

from . import plan, system
from .errors import TestbedError

RUN_DIR = Path("/run/odyssai-testbed")


@dataclass
class Entry:
    """One testbed known to this machine."""

    id: str
    name: str
    state_dir: str
    subnet: str
    persistent: bool = False
    owner_pid: int | None = None
    owner_start: int | None = None
    home: str | None = None  # the ODYSSAI_HOME of whoever made it (None: unknown)

    @property
    def live(self) -> bool:
        """Up and wanted: persistent, or its owning process still runs."""
        return self.persistent or system.alive(self.owner_pid, self.owner_start)

    def in_use(self) -> bool:
        """Owned by a process that still runs (a test, a script): that process tears it down."""
        return not self.persistent and system.alive(self.owner_pid, self.owner_start)


@contextmanager
def locked() -> Iterator[None]:
    """Hold the registry lock (an flock, released even if this process dies)."""
    RUN_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(RUN_DIR / "lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def entries() -> list[Entry]:
    """Every registered testbed; an unreadable entry is kept with what its file name tells."""
    if not RUN_DIR.is_dir():
        return []
    out = []
    for path in sorted(RUN_DIR.glob("*.json")):
        try:
            d = json.loads(path.read_text())
            out.append(Entry(**{k: v for k, v in d.items() if k in Entry.__dataclass_fields__}))
        except (OSError, ValueError, TypeError):
            out.append(Entry(id=path.stem, name="?", state_dir="", subnet="0.0.0.0/32"))
    return out


def find(name: str | None = None, state_dir: Path | None = None) -> Entry | None:
    for e in entries():
        if (name is not None and e.name == name) or (state_dir is not None and e.state_dir == str(state_dir)):
            return e
    return None


def host_networks() -> list[ipaddress.IPv4Network]:
    """IPv4 networks already in use on this machine (addresses and routes)."""
    nets = []
    for link in system.ip_json("-4", "addr", "show"):
        for a in link.get("addr_info", []):
            nets.append(ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False))
    for r in system.ip_json("-4", "route", "show"):
        dst = r.get("dst")
        if dst and dst != "default":
            nets.append(ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False))
    return nets


def claim(name: str, state_dir: Path, *, persistent: bool, wanted_id: str, home: str | None = None) -> Entry:
    """Register a new testbed: a free id, a free /24, and a name and state dir nobody else uses."""
    with locked():
        current = entries()
        for e in current:
            if e.name == name or e.state_dir == str(state_dir):
                raise TestbedError(f"a testbed named {e.name!r} is already up in {e.state_dir}",
                                   hint=f"odyssai testbed down --name {e.name}")
        taken_ids = {e.id for e in current} | _ids_in_use()
        tid = wanted_id
        while tid in taken_ids:
            tid = plan.new_id()
        used = [e.subnet for e in current] + host_networks()
        subnet = plan.choose_subnet(used)
        owner = None if persistent else os.getpid()
        entry = Entry(id=tid, name=name, state_dir=str(state_dir), subnet=str(subnet), persistent=persistent,
                      owner_pid=owner, owner_start=system.start_time(owner) if owner else None, home=home)
        write(entry)
        return entry


def write(entry: Entry) -> None:
    path = RUN_DIR / f"{entry.id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(entry)))
    os.replace(tmp, path)


def release(tid: str) -> None:
    (RUN_DIR / f"{tid}.json").unlink(missing_ok=True)


def _ids_in_use() -> set[str]:
    """Ids seen in namespace and interface names, registered or not."""
    names: Iterable[str] = system.namespaces() + system.root_links()
    return {tid for tid in map(plan.id_of, names) if tid}


def orphan_ids() -> set[str]:
    """Ids of namespaces or interfaces that no registry entry accounts for."""
    return _ids_in_use() - {e.id for e in entries()}
