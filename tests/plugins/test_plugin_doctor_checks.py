"""The jaccl and tb5 doctor checks, against recorded command outputs (a replaying fake ``run``).

macOS outputs are written from the tools' documented formats (no Mac here); the Linux path is
what the testbed gives.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from odyssai.discovery import CommandResult
from odyssai.doctor import DoctorContext, Reference
from odyssai.topology import Cluster, Node
from odyssai_discovery_tb5.doctor import LinkLocalCheck
from odyssai_transport_jaccl.doctor import JacclNodeCheck

sys.path.insert(0, str(Path(__file__).parent / "discovery_tb5"))
from tb5_samples import IFCONFIG  # noqa: E402

CLUSTER = Cluster(backend="jaccl", nodes=[Node(name="m1", host="10.0.0.11"), Node(name="m2", host="10.0.0.12")],
                  rdma_to={"m1": {"m2": "rdma_en2"}, "m2": {"m1": "rdma_en2"}})


def ctx(cluster: Cluster = CLUSTER) -> DoctorContext:
    return DoctorContext("studio", cluster, Reference(distributions={}, modules={}, required=set()))


def replay(outputs: dict[str, tuple[int, str]]):
    """A fake ``run`` that answers each command (by its first word) from ``outputs``."""
    async def run(argv, timeout=30):
        status, out = outputs.get(argv[0], (127, ""))
        return CommandResult(status, out, "" if status == 0 else f"{argv[0]}: not found")
    return run


def findings(check, outputs, cluster=CLUSTER):
    return asyncio.run(check.run(cluster.nodes[0], replay(outputs), ctx(cluster)))


def test_both_checks_apply_to_jaccl_clusters_only():
    ring = CLUSTER.model_copy(update={"backend": "ring"})
    assert JacclNodeCheck().applies(ctx()) and LinkLocalCheck().applies(ctx())
    assert not JacclNodeCheck().applies(ctx(ring)) and not LinkLocalCheck().applies(ctx(ring))


def test_on_linux_both_say_they_cannot_check_on_this_os():
    for check in (JacclNodeCheck(), LinkLocalCheck()):
        [f] = findings(check, {"uname": (0, "Linux\n")})
        assert f.status == "warn" and "cannot check on this OS" in f.message


def test_a_mac_with_new_macos_and_rdma_enabled_is_ok():
    out = findings(JacclNodeCheck(), {"uname": (0, "Darwin\n"), "sw_vers": (0, "26.2\n"),
                                      "rdma_ctl": (0, "RDMA is enabled\n")})
    assert [(f.check, f.status) for f in out] == [("macos", "ok"), ("rdma", "ok")]


def test_an_old_macos_and_rdma_disabled_fail_with_their_fixes():
    out = findings(JacclNodeCheck(), {"uname": (0, "Darwin\n"), "sw_vers": (0, "15.6\n"),
                                      "rdma_ctl": (0, "RDMA is disabled\n")})
    assert [(f.check, f.status) for f in out] == [("macos", "fail"), ("rdma", "fail")]
    assert "26.2" in out[0].fix and "rdma_ctl enable" in out[1].fix


def test_a_port_with_fe80_passes_and_one_without_fails_with_the_onboarding_fix():
    [ok] = findings(LinkLocalCheck(), {"uname": (0, "Darwin\n"), "ifconfig": (0, IFCONFIG)})
    assert ok.status == "ok" and "en2" in ok.message
    moved = CLUSTER.model_copy(update={"rdma_to": {"m1": {"m2": "rdma_en3"}, "m2": {"m1": "rdma_en2"}}})
    [bad] = findings(LinkLocalCheck(), {"uname": (0, "Darwin\n"), "ifconfig": (0, IFCONFIG)}, moved)
    assert bad.status == "fail" and "en3" in bad.message and "node-setup network" in bad.fix
