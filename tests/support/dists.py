"""Install small plugin distributions by hand: a module plus a ``.dist-info`` with entry points.

This is what an installer writes; ``importlib.metadata`` finds it on ``sys.path`` exactly as it
finds a pip-installed plugin. Used for plugins that are broken on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def install_dist(site: Path, dist: str, entry_name: str, module: str, source: str, version: str = "0.1.0") -> None:
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[odyssai]\n{entry_name} = {module}\n")
    (info / "RECORD").write_text("")


def run_odyssai(*args: str, site: Path | None = None, env: dict[str, str] | None = None,
                python: str = sys.executable, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``odyssai`` CLI in a fresh interpreter."""
    e = dict(os.environ)
    e.setdefault("COLUMNS", "250")
    if site is not None:
        e["PYTHONPATH"] = str(site) + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    return subprocess.run([python, "-m", "odyssai.cli", *args], capture_output=True, text=True,
                          env=e, timeout=timeout)
