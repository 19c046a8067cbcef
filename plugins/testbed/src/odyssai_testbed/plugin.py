"""Hook implementations of odyssai-testbed: the ``odyssai testbed`` sub-commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from odyssai import hookimpl

if TYPE_CHECKING:
    import typer


@hookimpl
def odyssai_cli(app: "typer.Typer") -> None:
    """Add ``odyssai testbed up|down|status|cable|reboot|fresh``."""
    from .cli import testbed_app

    app.add_typer(testbed_app, name="testbed")
