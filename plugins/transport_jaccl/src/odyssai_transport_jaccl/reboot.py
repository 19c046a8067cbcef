"""The reboot remedy: reset the RDMA state of nodes by rebooting them, then reload the model.

``RebootRemedy.perform`` is written against ``RebootTarget``, the small surface of a running
cluster it needs. The flow, per node and all nodes at once:

1. refuse while the cluster is generating (a reboot would cut its requests off);
2. run the node's ``reboot_command`` over SSH. A command that ends the session (exit 255 or an
   error) is the node going down; exit 0 means it accepted the reboot, so we poll with
   ``true`` until SSH stops answering; any other exit (``sudo`` asking for a password, ...)
   fails that node;
3. wait until SSH answers again, reporting progress while waiting;
4. when every node is back, reload the cluster; return the timings.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from odyssai.errors import Conflict
from odyssai.remediation import Remedy

if TYPE_CHECKING:
    from odyssai.discovery import CommandResult
    from odyssai.topology import Cluster as ClusterSpec

#: exit statuses that mean the SSH session ended under the command (the node went down)
SESSION_CUT = {255, -1}
#: the exit status of a command that timed out (odyssai.ssh.run_on_node)
TIMED_OUT = 124


class RebootTarget(Protocol):
    """What ``RebootRemedy.perform`` needs from a running cluster."""

    #: the cluster's entry of topology.yaml (nodes and their ``reboot_command``)
    spec: ClusterSpec
    #: True while requests are being generated
    generating: bool

    async def run_on_node(self, node_name: str, command: str, timeout: float) -> CommandResult:
        """Run a shell line on a node over SSH."""

    async def wait_ssh(self, node_name: str, timeout: float) -> Any:
        """Return once SSH to the node answers; raise (or return False) after ``timeout``."""

    async def reload(self) -> Any:
        """Load again what was loaded before the reboot (nothing when nothing was)."""

    # optional: ``async watch_session(node_name) -> object with `async wait_lost(timeout) -> bool`
    # and `close()``: an SSH session held open across the reboot; its loss is the node going down.


Progress = Callable[[dict[str, Any]], Any] | None


@dataclass
class NodeReboot:
    """What happened to one node; times are seconds since the reboot started."""

    node: str
    ok: bool = False
    command_s: float | None = None
    down_s: float | None = None
    back_s: float | None = None
    error: str | None = None


@dataclass
class RebootReport:
    ok: bool
    nodes: list[NodeReboot] = field(default_factory=list)
    reload_s: float | None = None
    total_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def _emit(progress: Progress, event: dict[str, Any]) -> None:
    if progress is None:
        return
    result = progress(event)
    if inspect.isawaitable(result):
        await result


class RebootRemedy(Remedy):
    """Reboot nodes whose RDMA queue pairs are exhausted or degraded, then reload."""

    name = "reboot"
    description = "reboot the nodes (resets RDMA queue pairs), wait for SSH, reload the model"

    def __init__(self, *, command_timeout: float = 30.0, down_timeout: float = 120.0,
                 up_timeout: float = 600.0, poll: float = 2.0, tick: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.command_timeout = command_timeout
        self.down_timeout = down_timeout
        self.up_timeout = up_timeout
        self.poll = poll
        self.tick = tick
        self.clock = clock

    async def perform(self, cluster: RebootTarget, nodes: list[str], progress: Progress = None) -> dict[str, Any]:
        """Reboot ``nodes`` (all nodes of the cluster when empty) and reload; return the report.

        Raises ``Conflict`` while the cluster is generating, ``NotFound`` for an unknown node.
        """
        if cluster.generating:
            raise Conflict("the cluster is generating: a reboot now would cut its requests off",
                           hint="wait until it is idle (or unload it), then reboot")
        spec = cluster.spec
        names = list(dict.fromkeys(nodes)) or [n.name for n in spec.nodes]
        commands = {name: spec.node(name).reboot_command for name in names}
        start = self.clock()
        results = {name: NodeReboot(name) for name in names}

        def since() -> float:
            return round(self.clock() - start, 3)

        async def one(name: str) -> None:
            r = results[name]
            watch = None
            if hasattr(cluster, "watch_session"):
                try:
                    watch = await cluster.watch_session(name)
                except Exception:
                    watch = None  # fall back to polling
            await _emit(progress, {"phase": "rebooting", "node": name, "command": commands[name]})
            try:
                res = await cluster.run_on_node(name, commands[name], self.command_timeout)
                status, detail = res.exit_status, (res.stderr or res.stdout).strip()
            except Exception as e:  # the session died with the node: that is the reboot
                status, detail = -1, f"{type(e).__name__}: {e}"
            r.command_s = since()
            if status not in SESSION_CUT | {0, TIMED_OUT}:
                if watch is not None:
                    watch.close()
                r.error = f"reboot command failed (exit {status}): {detail or 'no output'}"
                await _emit(progress, {"phase": "failed", "node": name, "error": r.error})
                return
            if status in SESSION_CUT:
                r.down_s = r.command_s
                if watch is not None:
                    watch.close()
            elif not await self._wait_down(cluster, name, watch):
                r.error = (f"still answering SSH {self.down_timeout:.0f}s after the reboot command; "
                           "check its reboot_command")
                await _emit(progress, {"phase": "failed", "node": name, "error": r.error})
                return
            else:
                r.down_s = since()
            await _emit(progress, {"phase": "down", "node": name, "elapsed_s": r.down_s})
            try:
                answered = await cluster.wait_ssh(name, self.up_timeout)
            except Exception as e:
                answered, detail = False, f"{type(e).__name__}: {e}"
            else:
                detail = ""
            if answered is False:
                r.error = f"SSH did not answer within {self.up_timeout:.0f}s" + (f" ({detail})" if detail else "")
                await _emit(progress, {"phase": "failed", "node": name, "error": r.error})
                return
            r.back_s, r.ok = since(), True
            await _emit(progress, {"phase": "back", "node": name, "elapsed_s": r.back_s})

        async def ticker(scope: anyio.CancelScope) -> None:
            with scope:
                while True:
                    await anyio.sleep(self.tick)
                    waiting = [n for n, r in results.items() if not r.ok and r.error is None]
                    await _emit(progress, {"phase": "waiting", "nodes": waiting, "elapsed_s": since()})

        ticking = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker, ticking)
            async with anyio.create_task_group() as reboots:
                for name in names:
                    reboots.start_soon(one, name)
            ticking.cancel()

        report = RebootReport(ok=all(r.ok for r in results.values()), nodes=list(results.values()))
        report.problems = [f"{r.node}: {r.error}" for r in report.nodes if r.error]
        if report.ok:
            await _emit(progress, {"phase": "reloading"})
            t = self.clock()
            try:
                await cluster.reload()
                report.reload_s = round(self.clock() - t, 3)
            except Exception as e:
                report.ok = False
                report.problems.append(f"reload failed: {e}")
        else:
            report.problems.append("not reloading: not every node came back")
        report.total_s = since()
        await _emit(progress, {"phase": "done", "ok": report.ok, "elapsed_s": report.total_s})
        return report.to_dict()

    async def _wait_down(self, cluster: RebootTarget, name: str, watch: Any = None) -> bool:
        """Wait until the node goes down; False on timeout.

        With a held session (``watch``), its loss is the signal: a node that reboots faster than
        any poll is still seen. Without one, poll ``true`` over SSH until it fails.
        """
        if watch is not None:
            try:
                return await watch.wait_lost(self.down_timeout)
            finally:
                watch.close()
        with anyio.move_on_after(self.down_timeout):
            while True:
                try:
                    res = await cluster.run_on_node(name, "true", min(self.command_timeout, 10.0))
                    if res.exit_status != 0:
                        return True
                except Exception:
                    return True
                await anyio.sleep(self.poll)
        return False
