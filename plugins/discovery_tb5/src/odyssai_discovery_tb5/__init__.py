"""Thunderbolt 5 discovery: IPv6 neighbour discovery on TB links, rdma_to matrix, onboarding.

- ``TB5Discoverer``: probe a cluster's nodes for Thunderbolt ports, fe80 addresses and cables.
- ``match_cables`` / ``rdma_to_from_cables``: pure matching of what the nodes saw.
- ``diff_rdma_to`` / ``render_diff``: what moved between two wirings.
- ``onboarding``: the macOS ``node-setup network`` plan and its LaunchDaemon.
"""

from .diff import CableChange, diff_rdma_to, render_diff
from .matching import Matching, NodeView, PortInfo, match_cables, rdma_to_from_cables
from .probe import TB5Discoverer

__all__ = ["TB5Discoverer", "match_cables", "rdma_to_from_cables", "Matching", "NodeView", "PortInfo",
           "diff_rdma_to", "render_diff", "CableChange"]
