"""How many times each node has loaded the jaccl backend since it last booted.

JACCL's RDMA queue pairs degrade across load/unload cycles and only a reboot resets them, so
the count since boot says how close a node is to failing its next load. The counts live in one
JSON file under a state directory the caller chooses; a node's count starts again when its boot
identity changes (a new ``kern.boottime`` on macOS, a new ``boot_id`` on Linux).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

#: Thunderbolt RDMA devices hold at most this many queue pairs: the 11th ``ibv_create_qp`` on
#: a device fails with errno 16, measured upstream on two Macs with macOS 26.5.1
#: (ml-explore/mlx#3162, #4209). A jaccl load creates one queue pair on each device (one device
#: per peer), and queue pairs lost across cycles come back only with a reboot, so this is
#: also about how many loads a node survives after it boots. Not measured here (no Mac).
QUEUE_PAIRS_PER_DEVICE = 10

#: warn this many loads before the limit, so there is time to reboot between requests
WARNING_MARGIN = 2

#: the command that prints a node's boot identity, by ``uname -s``
BOOT_ID_COMMANDS: dict[str, list[str]] = {
    "Darwin": ["sysctl", "-n", "kern.boottime"],
    "Linux": ["cat", "/proc/sys/kernel/random/boot_id"],
}

_BOOTTIME_RE = re.compile(r"sec\s*=\s*(\d+)")


def parse_boot_id(os_name: str, text: str) -> str:
    """A node's boot identity from the output of ``BOOT_ID_COMMANDS[os_name]``.

    macOS prints ``{ sec = 1733280000, usec = 52000 } Wed Dec  4 03:20:00 2024`` (the seconds
    are kept); Linux prints a UUID that is new at each boot.
    """
    text = text.strip()
    if os_name == "Darwin":
        m = _BOOTTIME_RE.search(text)
        if m is None:
            raise ValueError(f"cannot read a boot time from {text!r}")
        return m.group(1)
    if not text:
        raise ValueError("empty boot id")
    return text.splitlines()[0].strip()


class LoadCycles:
    """Per-node jaccl load counts since boot, persisted to ``<state_dir>/jaccl-load-cycles.json``.

    ``node`` is any stable name of the machine (the node name of the topology); ``boot_id`` is
    what ``parse_boot_id`` returns for it right now.
    """

    FILENAME = "jaccl-load-cycles.json"

    def __init__(self, state_dir: Path | str):
        self.path = Path(state_dir) / self.FILENAME

    # -- file ---------------------------------------------------------------------------
    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
            nodes = data.get("nodes", {})
            return {k: v for k, v in nodes.items()
                    if isinstance(v, dict) and isinstance(v.get("loads"), int)}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError) as e:
            log.warning("ignoring unreadable %s (%s); counting from zero", self.path, e)
            return {}

    def _write(self, nodes: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".jaccl-cycles-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": 1, "nodes": nodes}, f, indent=2, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- counts -------------------------------------------------------------------------
    def count(self, node: str, boot_id: str) -> int:
        """Loads of ``node`` since the boot ``boot_id``; 0 when it has booted since."""
        entry = self._read().get(node)
        if entry is None or entry.get("boot_id") != str(boot_id):
            return 0
        return entry["loads"]

    def record_load(self, node: str, boot_id: str) -> int:
        """Count one more load of ``node`` (call it as a jaccl load starts); return the count."""
        nodes = self._read()
        entry = nodes.get(node)
        if entry is None or entry.get("boot_id") != str(boot_id):
            entry = {"boot_id": str(boot_id), "loads": 0}
        entry["loads"] += 1
        nodes[node] = entry
        self._write(nodes)
        return entry["loads"]

    def forget(self, node: str) -> None:
        """Drop ``node``'s count (e.g. after it left the topology)."""
        nodes = self._read()
        if nodes.pop(node, None) is not None:
            self._write(nodes)

    def loads_left(self, node: str, boot_id: str) -> int:
        """Roughly how many more loads ``node`` takes before it needs a reboot (never negative)."""
        return max(0, QUEUE_PAIRS_PER_DEVICE - self.count(node, boot_id))

    def warning(self, node: str, boot_id: str) -> str | None:
        """A one-line warning once ``node`` is within ``WARNING_MARGIN`` loads of the limit."""
        n = self.count(node, boot_id)
        if n < QUEUE_PAIRS_PER_DEVICE - WARNING_MARGIN:
            return None
        return (f"{node} has loaded jaccl {n} times since it booted; its Thunderbolt RDMA devices "
                f"hold about {QUEUE_PAIRS_PER_DEVICE} queue pairs, so loads may start failing "
                "(errno 16/96): reboot it before the next load (dashboard: Reboot all)")
