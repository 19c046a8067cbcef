"""How every ``odyssai`` command, core's or a plugin's, reports an error a user can meet.

An ``OdyssaiError`` becomes one line on stderr (``error: <message> (<what to do>)``) and the
error's exit code — never a traceback. Plugins decorate their Typer commands with
``user_errors`` too. ``confirm`` asks before a change, and refuses with one line when there is
no terminal to ask on (a script without ``--yes`` must not read as a plain "Aborted").
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import typer
from rich.console import Console

from .errors import OdyssaiError

err = Console(stderr=True, soft_wrap=True)


class NotConfirmed(OdyssaiError):
    """A command that asks before it changes something was run without a terminal to ask on."""

    exit_code = 1


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced stdin
        return False


def confirm(question: str, *, yes: bool, what: str) -> bool:
    """``yes``, or the user's answer to ``question``; without a terminal, ``NotConfirmed``.

    ``what`` names the command in the error, e.g. "topology rebuild lab".
    """
    if yes:
        return True
    if not stdin_is_terminal():
        raise NotConfirmed(f"{what} asks for a confirmation, but stdin is not a terminal: pass --yes to confirm")
    return typer.confirm(question, default=False)


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
