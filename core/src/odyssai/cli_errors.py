"""How every ``odyssai`` command, core's or a plugin's, reports an error a user can meet.

An ``OdyssaiError`` becomes one line on stderr (``error: <message> (<what to do>)``) and the
error's exit code — never a traceback. Plugins decorate their Typer commands with
``user_errors`` too.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import typer
from rich.console import Console

from .errors import OdyssaiError

err = Console(stderr=True, soft_wrap=True)


def fail(e: OdyssaiError) -> None:
    err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
    raise typer.Exit(e.exit_code)


def user_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: turn an OdyssaiError into a one-line message and its exit code."""

    @functools.wraps(fn)
    def wrapper(*a: Any, **kw: Any) -> Any:
        try:
            return fn(*a, **kw)
        except OdyssaiError as e:
            fail(e)

    return wrapper
