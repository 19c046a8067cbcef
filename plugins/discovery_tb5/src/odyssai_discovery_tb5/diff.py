"""Cable diffs live in core (``odyssai.wiring``); re-exported here for this plugin's callers."""

from odyssai.wiring import CableChange, diff_rdma_to, render_diff

__all__ = ["CableChange", "diff_rdma_to", "render_diff"]
