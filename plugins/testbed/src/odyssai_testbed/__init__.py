"""A multi-node cluster on one Linux box: network namespaces, an sshd per node, Thunderbolt-like cables.

``Testbed`` builds one (``Testbed(nodes=3).up()``); ``odyssai_testbed.fixtures`` gives pytest
fixtures; ``odyssai testbed ...`` is the command line. Imports are lazy so that
``python -m odyssai_testbed reboot-node`` (run at every reboot) starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import TestbedError
    from .plan import Cable
    from .requirements import testbed_missing
    from .teardown import cleanup_leftovers, leftovers
    from .testbed import Testbed

_EXPORTS = {
    "Testbed": "testbed", "Cable": "plan", "TestbedError": "errors", "testbed_missing": "requirements",
    "cleanup_leftovers": "teardown", "leftovers": "teardown",
}
__all__ = ["Cable", "Testbed", "TestbedError", "cleanup_leftovers", "leftovers", "testbed_missing"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
