"""jaccl's doctor checks: macOS 26.2+ and RDMA over Thunderbolt enabled on every node.

Registered from ``plugin.py`` with ``odyssai_register_doctor_checks``; runs on jaccl clusters
only. On a node that is not a Mac (the Linux testbed) it says it cannot check, as a warning.
"""

from __future__ import annotations

from odyssai.doctor import DoctorCheck, Finding

MIN_MACOS = (26, 2)


def macos_version(text: str) -> tuple[int, ...]:
    """``sw_vers -productVersion`` ("26.2", "26.2.1") -> (26, 2); () when unreadable."""
    parts = text.strip().split(".")
    return tuple(int(p) for p in parts[:2]) if all(p.isdigit() for p in parts[:2]) and parts[0] else ()


class JacclNodeCheck(DoctorCheck):
    name = "jaccl"

    def applies(self, ctx):
        return ctx.cluster.backend == "jaccl"

    async def run(self, node, run, ctx):
        os_name = (await run(["uname", "-s"])).stdout.strip()
        if os_name != "Darwin":
            return [Finding(node.name, "jaccl", "warn", f"cannot check on this OS ({os_name or 'unknown'}): "
                            f"jaccl needs macOS {MIN_MACOS[0]}.{MIN_MACOS[1]}+ with RDMA enabled")]
        text = (await run(["sw_vers", "-productVersion"])).stdout.strip()
        ok = macos_version(text) >= MIN_MACOS
        out = [Finding(node.name, "macos", "ok" if ok else "fail", f"macOS {text or '?'}",
                       "" if ok else f"update macOS to {MIN_MACOS[0]}.{MIN_MACOS[1]} or later")]
        r = await run(["rdma_ctl", "status"])
        said = (r.stdout.strip() or r.stderr.strip()).splitlines()[:1]
        enabled = r.exit_status == 0 and "enabled" in r.stdout.lower() and "disabled" not in r.stdout.lower()
        out.append(Finding(node.name, "rdma", "ok" if enabled else "fail",
                           f"rdma_ctl status: {said[0] if said else f'exit {r.exit_status}'}",
                           "" if enabled else "in macOS Recovery: Terminal, `rdma_ctl enable`, reboot"))
        return out
