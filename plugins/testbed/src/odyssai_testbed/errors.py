"""The one error type of the testbed: a one-line message and what to do next."""

from __future__ import annotations

from odyssai.errors import OdyssaiError


class TestbedError(OdyssaiError):
    """The testbed cannot do what was asked (missing tools, not root, not up, a bad cable...)."""

    __test__ = False  # not a pytest test class
    exit_code = 1
