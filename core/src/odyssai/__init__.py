"""OdyssAI-X: one MLX model spread across 1-5 Macs.

Plugins import ``hookimpl`` from here and the base classes from ``odyssai.transport``,
``odyssai.sharding``, ``odyssai.discovery`` and ``odyssai.remediation``.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("odyssai")

__all__ = ["hookimpl", "__version__"]
