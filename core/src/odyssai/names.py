"""Validation of every name and value that may end up in a remote command or a path.

Anything the user types that reaches a shell is checked here first, and quoted with
``shlex.quote`` where it is used: both, never one instead of the other.
"""

from __future__ import annotations

import ipaddress
import re

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
HOST_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}(?:/[A-Za-z0-9][A-Za-z0-9_.-]{0,127})?$")
IFACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


def check_name(value: str, what: str = "name") -> str:
    """A cluster, node or plugin-registered name: letters, digits, ``_.-``; no leading dot."""
    if not isinstance(value, str) or not NAME_RE.match(value) or value in {".", ".."}:
        raise ValueError(
            f"{what} {value!r} is not allowed: use letters, digits, '_', '.', '-' "
            "(at most 63, starting with a letter or digit)")
    return value


#: path segments the admin API uses under /admin/ itself: a cluster cannot be called that
RESERVED_CLUSTER_NAMES = frozenset({"clusters", "events"})


def check_cluster_name(value: str) -> str:
    check_name(value, "cluster name")
    if value in RESERVED_CLUSTER_NAMES:
        raise ValueError(f"cluster name {value!r} is reserved (the admin API uses /admin/{value})")
    return value


def check_user(value: str) -> str:
    if not USER_RE.match(value):
        raise ValueError(f"SSH user {value!r} is not a valid user name")
    return value


def check_host(value: str) -> str:
    """A host name, an IPv4 address, or an IPv6 address (with an optional %zone)."""
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
        if "%" in value and not IFACE_RE.match(value.split("%", 1)[1]):
            raise ValueError
        return value
    except ValueError:
        pass
    if not HOST_RE.match(value):
        raise ValueError(f"host {value!r} is neither a host name nor an IP address")
    return value


def check_model_name(value: str) -> str:
    """A model as named in a load request: ``name`` or ``org/name``, resolved under models_dir.

    Refuses ``..``, absolute paths, shell metacharacters and anything else that could leave
    models_dir or break a remote command.
    """
    if (not isinstance(value, str) or not MODEL_RE.match(value)
            or any(part in {".", ".."} or part.startswith(".") for part in value.split("/"))):
        raise ValueError(
            f"model {value!r} is not a valid model name: use 'name' or 'org/name' with letters, "
            "digits, '_', '.', '-' (no '..', no '/' at the start, no shell characters)")
    return value


def check_path(value: str, what: str = "path") -> str:
    """A path in the topology: no NUL or newline; quoting does the rest."""
    if not value or "\x00" in value or "\n" in value or "\r" in value:
        raise ValueError(f"{what} {value!r} is not a usable path")
    return value
