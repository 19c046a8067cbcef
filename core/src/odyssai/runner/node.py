"""Facts about this node for ``Hello``: platform, versions, memory. Imports no MLX."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import re
import socket
import subprocess
import sys
from typing import Any


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return ""


def _meminfo_linux(text: str) -> tuple[int, int]:
    values = {}
    for line in text.splitlines():
        m = re.match(r"(\w+):\s+(\d+)\s*kB", line)
        if m:
            values[m.group(1)] = int(m.group(2)) * 1024
    free = values.get("MemAvailable", values.get("MemFree", 0))
    return values.get("MemTotal", 0), free


def _meminfo_macos() -> tuple[int, int]:
    total = int(subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True,
                               timeout=5).stdout.strip() or 0)
    out = subprocess.run(["vm_stat"], capture_output=True, text=True, timeout=5).stdout
    page = int(m.group(1)) if (m := re.search(r"page size of (\d+) bytes", out)) else 16384
    pages = {k.strip(): int(v.strip().rstrip(".")) for k, v in re.findall(r"^(Pages [^:]+):\s+(\d+)\.?$", out, re.M)}
    free = sum(pages.get(k, 0) for k in ("Pages free", "Pages inactive", "Pages speculative", "Pages purgeable"))
    return total, free * page


def memory() -> tuple[int, int]:
    """(total, free) bytes of RAM; (0, 0) when unknown."""
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/meminfo") as f:
                return _meminfo_linux(f.read())
        if sys.platform == "darwin":
            return _meminfo_macos()
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return 0, 0


def node_facts(cluster: str = "") -> dict[str, Any]:
    total, free = memory()
    return {
        "hostname": socket.gethostname(),
        "cluster": cluster,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "executable": sys.executable,
        "cpu_count": os.cpu_count() or 0,
        "odyssai": _version("odyssai"),
        "mlx": _version("mlx"),
        "mlx-lm": _version("mlx-lm"),
        "memory_bytes": total,
        "free_bytes": free,
    }
