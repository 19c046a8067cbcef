"""What a remedy is: given a classified failure of a cluster, an action that heals it.

Remediation plugins register ``Remedy`` objects; core offers a remedy when ``applies`` says so
and performs it only when asked (or when the user enabled automatic remediation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .transport import Failure


class Remedy:
    """Base class of remedies. ``name`` is unique, e.g. ``"reboot"``."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def applies(self, failure: "Failure") -> bool:
        """True when this remedy is the answer to ``failure``."""
        return failure.action == self.name

    async def perform(self, cluster: Any, nodes: list[str], progress: Any) -> dict[str, Any]:
        """Carry out the remedy on ``nodes`` of the running ``cluster``; return a report."""
        raise NotImplementedError
