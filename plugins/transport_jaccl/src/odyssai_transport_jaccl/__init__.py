"""The jaccl transport: RDMA over Thunderbolt 5, errno classification and reboot remediation.

- ``JacclTransport``: the per-rank env and device matrix MLX's jaccl backend needs.
- ``classify`` / ``root_cause``: JACCL error output to typed failures.
- ``LoadCycles``: loads per node since boot, and a warning before queue pairs run out.
- ``RebootRemedy``: reboot nodes, wait for SSH, reload.
"""

from .cycles import QUEUE_PAIRS_PER_DEVICE, LoadCycles, parse_boot_id
from .failures import classify, reboot_nodes, root_cause
from .reboot import RebootRemedy, RebootTarget
from .transport import JacclTransport, coordinator, device_matrix, wiring_of

__all__ = ["JacclTransport", "coordinator", "device_matrix", "wiring_of", "classify", "root_cause",
           "reboot_nodes", "LoadCycles", "QUEUE_PAIRS_PER_DEVICE", "parse_boot_id", "RebootRemedy",
           "RebootTarget"]
