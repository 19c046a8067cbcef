"""discovery_tb5's doctor check: an fe80 address on each Thunderbolt port the cluster's rdma_to uses."""

from __future__ import annotations

from odyssai.doctor import DoctorCheck, Finding

from .parsers import parse_ifconfig


class LinkLocalCheck(DoctorCheck):
    name = "fe80"

    def applies(self, ctx):
        return ctx.cluster.backend == "jaccl"

    async def run(self, node, run, ctx):
        ports = sorted({d.removeprefix("rdma_") for d in ((ctx.cluster.rdma_to or {}).get(node.name) or {}).values()})
        if (await run(["uname", "-s"])).stdout.strip() != "Darwin":
            return [Finding(node.name, "fe80", "warn", "cannot check on this OS (fe80 per port is read with macOS ifconfig)")]
        if not ports:
            return [Finding(node.name, "fe80", "fail", "rdma_to lists no port of this node",
                            f"odyssai topology build {ctx.cluster_name}")]
        ifaces = parse_ifconfig((await run(["ifconfig"])).stdout)
        missing = [p for p in ports if not (ifaces.get(p) and ifaces[p].fe80)]
        if missing:
            return [Finding(node.name, "fe80", "fail", f"no fe80 address on {', '.join(missing)}",
                            "at the node's console (not over SSH): odyssai node-setup network")]
        return [Finding(node.name, "fe80", "ok", f"fe80 on {', '.join(ports)}")]
