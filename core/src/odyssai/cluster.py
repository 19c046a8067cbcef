"""Clusters as the orchestrator runs them: spawn, load, serve, unload — and nothing left behind.

A ``Cluster`` owns one runner per node (``Rank``). ``load`` spawns them all, asks each whether
it has the model, picks a sharding strategy and plan, and waits until every rank is idle.
``generate`` sends a request to rank 0 and yields its output. Any rank that dies takes the
cluster down cleanly (every other rank is stopped) and leaves a classified error behind.
The ``ClusterManager`` holds the clusters of ``topology.yaml`` for the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

from . import protocol
from .errors import (Conflict, LoadFailed, NotFound, OdyssaiError, Overloaded, Unavailable)
from .events import EventBus
from .names import check_model_name
from .selection import check_requested, choose_strategy
from .sharding import ModelInfo, NodeResources, ShardPlan
from .spawn import RankProcess, spawn
from .ssh import connect, run_on_node
from .topology import Cluster as ClusterSpec
from .topology import Node, load_topology
from .transport import Failure

log = logging.getLogger("odyssai.cluster")

HELLO_TIMEOUT = 120.0
INSPECT_TIMEOUT = 180.0


@dataclass
class Rank:
    """One rank of a cluster: where it runs and what it last reported."""

    index: int
    node: Node
    phase: str = "stopped"
    progress: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None
    error: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)
    #: what the loaded rank holds: parameters, bytes, layer_parameters, layer_bytes
    parameters: dict[str, int] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    process: RankProcess | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.index, "node": self.node.name, "phase": self.phase,
                "progress": self.progress, "pid": self.pid, "error": self.error,
                "files": self.files, "parameters": self.parameters, "history": self.history[-20:]}


class Cluster:
    """A named cluster of ``topology.yaml`` and the runners it has now."""

    def __init__(self, name: str, spec: ClusterSpec, manager: "ClusterManager"):
        self.name = name
        self.spec = spec
        self.manager = manager
        self.settings = manager.settings
        self.pm = manager.pm
        self.state = "unloaded"       # unloaded, loading, idle, failed, stopping, rebooting
        self.model: str | None = None
        self.requested_sharding: str | None = None
        self.plan: ShardPlan | None = None
        self.error: dict[str, Any] | None = None
        self.ranks: list[Rank] = [Rank(i, n) for i, n in enumerate(spec.nodes)]
        self.loaded_at: float | None = None
        self.load_seconds: float | None = None
        self.stats: dict[str, Any] = {"active": 0, "waiting": 0, "generation_tps": 0.0}
        self.counters = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "errors": 0}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[Any] | None = None
        self._pumps: list[asyncio.Task[Any]] = []
        self._requests: dict[str, asyncio.Queue[Any]] = {}
        self._eos: list[int] = []
        self.warnings: list[str] = []
        self.reboot_report: dict[str, Any] | None = None

    # -- views --------------------------------------------------------------------------
    @property
    def phase(self) -> str:
        """The cluster's phase as users see it."""
        if self.state == "idle" and self._requests:
            return "generating"
        return self.state

    @property
    def busy(self) -> bool:
        return bool(self._requests)

    def status(self) -> dict[str, Any]:
        return {"cluster": self.name, "backend": self.spec.backend, "phase": self.phase,
                "model": self.model, "sharding": self.plan.to_dict() if self.plan else None,
                "error": self.error, "ranks": [r.to_dict() for r in self.ranks],
                "load_seconds": self.load_seconds, "warnings": self.warnings,
                "reboot": self.reboot_report,
                "requests": {"in_flight": self.stats.get("active", 0),
                             "queued": self.stats.get("waiting", 0), "open": len(self._requests)},
                "generation_tps": self.stats.get("generation_tps", 0.0),
                "counters": dict(self.counters)}

    def _publish(self, type_: str, **data: Any) -> None:
        self.manager.events.publish(type_, cluster=self.name, **data)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._publish("cluster_phase", phase=self.phase, model=self.model)

    def _set_rank_phase(self, rank: Rank, phase: str, detail: str = "") -> None:
        if rank.phase != phase:
            rank.phase = phase
            rank.history.append(phase)
            self._publish("rank_phase", rank=rank.index, node=rank.node.name, phase=phase, detail=detail)

    # -- load ---------------------------------------------------------------------------
    async def load(self, model: str, sharding: str | None = None, *, wait: bool = True,
                   fault: dict[int, str] | None = None) -> dict[str, Any]:
        """Load ``model`` on every rank. Bad input fails here, before anything is spawned.

        With ``wait`` False the load goes on in the background and this returns at once.
        ``fault`` (tests only) maps a rank to an error text that rank raises while loading.
        """
        try:
            check_model_name(model)
        except ValueError as e:
            raise OdyssaiError(str(e), param="model") from None
        check_requested(self.pm, sharding)
        transport = self.pm.transport(self.spec.backend)
        transport.check(self.name, self.spec, others=self.manager.specs(excluding=self.name))
        if self._lock.locked() or self.state in {"loading", "stopping", "rebooting"}:
            raise Conflict(f"cluster {self.name} is {self.state}",
                           hint="wait for it to finish, or unload it first")
        await self._lock.acquire()
        try:
            if self.state in {"idle", "failed"}:
                await self._teardown("reload")
            self.model, self.requested_sharding, self.plan, self.error = model, sharding, None, None
            self.ranks = [Rank(i, n) for i, n in enumerate(self.spec.nodes)]
            self._set_state("loading")
        except BaseException:
            self._lock.release()
            raise
        self._task = asyncio.create_task(self._load_then_release(model, sharding, transport, fault or {}))
        if not wait:
            return self.status()
        await asyncio.shield(self._task)
        if self.state != "idle":
            raise self._load_error or LoadFailed(f"cluster {self.name} failed to load {model}")
        return self.status()

    async def _load_then_release(self, model: str, sharding: str | None, transport: Any,
                                 fault: dict[int, str]) -> None:
        self._load_error: OdyssaiError | None = None
        started = time.monotonic()
        try:
            await asyncio.wait_for(self._load(model, sharding, transport, fault), self.settings.load_timeout)
            self.load_seconds = round(time.monotonic() - started, 3)
            self.loaded_at = time.time()
            self._set_state("idle")
        except asyncio.TimeoutError:
            self._load_error = LoadFailed(f"cluster {self.name}: loading {model} took longer than "
                                          f"{self.settings.load_timeout:.0f}s",
                                          hint="raise ODYSSAI_LOAD_TIMEOUT or check the ranks' logs")
        except OdyssaiError as e:
            self._load_error = e
        except Exception as e:  # a bug must still leave a clean, failed cluster
            log.exception("load of %s on %s crashed", model, self.name)
            self._load_error = LoadFailed(f"cluster {self.name}: load crashed: {type(e).__name__}: {e}")
        finally:
            try:
                if self._load_error is not None:
                    err = await self._load_root_cause(self._load_error)
                    self._load_error = err
                    self.error = {"message": str(err), "kind": type(err).__name__,
                                  **(getattr(err, "failure", None) or {})}
                    self._publish("error", message=str(err), error=self.error)
                    await self._teardown("load failed")
                    self._set_state("failed")
            finally:  # even when cancelled mid-teardown (unload, shutdown): never keep the lock
                self._lock.release()
        if self._load_error is not None and self.settings.auto_remediate and self.error.get("action"):
            asyncio.create_task(self._auto_remedy(self.error))

    async def _settle(self, first: int | None, grace: float = 2.0) -> None:
        """Give the other ranks ``grace`` seconds to report their own errors (or exit)."""
        deadline = time.monotonic() + grace
        while True:
            waiting = False
            for r in self.ranks:
                if r.process is None or r.index == first:
                    continue
                pending, exited = r.process.drain()
                for msg in pending:
                    self._handle_common(r, msg)
                if r.error is None and not exited:
                    waiting = True
            if not waiting or time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.1)

    async def _load_root_cause(self, err: OdyssaiError) -> OdyssaiError:
        """When several ranks failed, let the transport pick the failure that explains the rest."""
        if not isinstance(err, LoadFailed) or len(self.ranks) < 2:
            return err
        await self._settle(getattr(err, "rank", None))
        failures = []
        for r in self.ranks:
            if r.process is None or r.index == getattr(err, "rank", None):
                continue
            f = self._classify(r)
            if f is not None:
                failures.append(f)
        mine = getattr(err, "failure", None)
        if not failures:
            return err
        try:
            transport = self.pm.transport(self.spec.backend)
        except OdyssaiError:
            return err
        from .transport import Failure

        candidates = ([Failure(**mine)] if mine else []) + failures
        best = transport.root_cause(candidates)
        if best is None or (mine and best.to_dict() == mine):
            return err
        rank = next(r for r in self.ranks if r.index == best.rank)
        return self._rank_failure(rank, best.message)

    def _classify(self, rank: Rank) -> Failure | None:
        if rank.process is None:
            return None
        text = "\n".join(filter(None, [(rank.error or {}).get("message", ""), rank.process.stderr_text(40)]))
        try:
            f = self.pm.transport(self.spec.backend).classify(text, rank=rank.index, node=rank.node.name)
        except OdyssaiError:
            return None
        if f is not None:
            f.rank, f.node = rank.index, rank.node.name
        return f

    async def _auto_remedy(self, error: dict[str, Any]) -> None:
        nodes = [error["node"]] if error.get("node") else None  # the node that failed, else all
        try:
            await self.reboot(nodes, reason="automatic remediation of: " + error.get("message", ""))
        except OdyssaiError as e:
            log.warning("automatic remediation of %s failed: %s", self.name, e)

    async def _spawn_all(self, transport: Any) -> None:
        size = len(self.ranks)
        others = self.manager.specs(excluding=self.name)

        async def one(rank: Rank) -> None:
            self._set_rank_phase(rank, "starting")
            setup = transport.rank_setup(self.name, self.spec, rank.index, others=others)
            rank.process = await spawn(rank.node, rank.index, size, self.name,
                                       self.spec.models_dir_of(rank.node), setup,
                                       on_stderr=self._on_stderr,
                                       connect_timeout=self.settings.connect_timeout)
            hello = await self._expect(rank, protocol.Hello, HELLO_TIMEOUT, "starting")
            rank.pid, rank.facts = hello.pid, hello.node

        await self._all(one)

    async def _all(self, fn: Any) -> list[Any]:
        """Run ``fn(rank)`` for every rank at once; the first failure cancels the rest."""
        tasks = [asyncio.create_task(fn(r)) for r in self.ranks]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in pending:
                t.cancel()
            errors = [t.exception() for t in done if not t.cancelled() and t.exception()]
            if errors:
                # prefer an error that names a node over a consequence seen elsewhere
                raise errors[0]
            return [t.result() for t in tasks]
        finally:
            for t in tasks:
                t.cancel()

    async def _expect(self, rank: Rank, kind: type, timeout: float, doing: str) -> Any:
        """Read rank messages until one of ``kind``; errors and exits become LoadFailed."""
        assert rank.process is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                msg = await rank.process.next_message(max(remaining, 0.01))
            except asyncio.TimeoutError:
                raise self._rank_failure(rank, f"no answer while {doing} within {timeout:.0f}s") from None
            if msg is None:
                await rank.process.stop(grace=2)
                raise self._rank_failure(rank, f"the runner exited while {doing}")
            self._handle_common(rank, msg)
            if isinstance(msg, kind):
                return msg
            if isinstance(msg, protocol.Error):
                raise self._rank_failure(rank, msg.message)

    def _handle_common(self, rank: Rank, msg: Any) -> None:
        if isinstance(msg, protocol.PhaseChanged):
            self._set_rank_phase(rank, msg.phase, msg.detail)
            if rank.index == 0 and msg.phase == "idle" and self.stats.get("active"):
                self.stats = {"active": 0, "waiting": 0, "generation_tps": 0.0, "prompt_tps": 0.0}
                self._publish("token_rate", tps=0.0, active=0, waiting=0)
        elif isinstance(msg, protocol.Progress):
            rank.progress = {"done": msg.done, "total": msg.total, "what": msg.what}
            self._publish("load_progress", rank=rank.index, node=rank.node.name, **rank.progress)
        elif isinstance(msg, protocol.Error) and msg.id is None:
            rank.error = {"message": msg.message, "where": msg.where}

    def _rank_failure(self, rank: Rank, message: str) -> LoadFailed:
        """A typed, classified error for a failed rank, naming the node (and field when known)."""
        process = rank.process
        stderr = process.stderr_text(40) if process else ""
        status = process.exit_status if process else None
        text = f"{message}\n{stderr}"
        failure = None
        try:
            failure = self.pm.transport(self.spec.backend).classify(text, rank=rank.index, node=rank.node.name)
        except OdyssaiError:
            pass
        node = rank.node
        param = None
        hint = "see the rank's log: odyssai logs " + self.name
        if failure is None and (status == 127 or "No such file or directory" in stderr and "python" in stderr.lower()
                                or "not found" in stderr and node.python in stderr):
            message = f"python {node.python!r} not found on the node"
            param, hint = "python", "set 'python' of the node in topology.yaml to a Python that has odyssai[runner]"
        elif failure is None and "No module named" in stderr:
            missing = stderr.split("No module named", 1)[1].split("\n", 1)[0].strip(" '\"")
            message = f"module {missing!r} is missing in {node.python}"
            param, hint = "python", f"install odyssai[runner] for {node.python} on {node.name}"
        if failure is not None:
            failure.rank, failure.node = rank.index, node.name
            message, hint = failure.message, failure.remedy
        rank.error = {"message": message, **({"failure": failure.to_dict()} if failure else {})}
        self._set_rank_phase(rank, "failed", message)
        err = LoadFailed(f"cluster {self.name}, rank {rank.index} (node {node.name}): {message}",
                         hint=hint, param=param)
        err.failure = failure.to_dict() if failure else None  # type: ignore[attr-defined]
        err.rank = rank.index  # type: ignore[attr-defined]
        return err

    async def _load(self, model: str, sharding: str | None, transport: Any, fault: dict[int, str]) -> None:
        async def run(node: Node, argv: list[str]) -> Any:
            return await run_on_node(node, argv, timeout=30, connect_timeout=self.settings.connect_timeout)

        self.warnings = await transport.prepare(self.name, self.spec, run, self.settings.home)
        for w in self.warnings:
            self._publish("warning", message=w)
        await self._spawn_all(transport)

        async def inspect(rank: Rank) -> protocol.Inspected:
            assert rank.process
            await rank.process.send(protocol.Inspect(model=model))
            return await self._expect(rank, protocol.Inspected, INSPECT_TIMEOUT, "inspecting the model")

        found = await self._all(inspect)
        missing = [(r, f) for r, f in zip(self.ranks, found) if not f.exists]
        if missing:
            where_ = ", ".join(f"{r.node.name} ({self.spec.models_dir_of(r.node)})" for r, _ in missing)
            detail = next((f.error for _, f in missing if f.error), None)
            raise NotFound(f"model {model!r} is not under models_dir on node(s) {where_}"
                           + (f": {detail}" if detail else ""), param="model",
                           hint="copy the model to every node first (or `odyssai models pull`)")
        broken = [(r, f) for r, f in zip(self.ranks, found) if f.error]
        if broken:
            errors = sorted({f.error for _, f in broken if f.error})
            where_ = ", ".join(r.node.name for r, _ in broken)
            raise LoadFailed(f"cluster {self.name}: model {model!r} cannot be loaded from node(s) {where_}: "
                             + "; ".join(errors), param="model",
                             hint="fix the model directory under models_dir on those nodes "
                                  "(config.json, tokenizer and model*.safetensors)")
        first = found[0]
        info = ModelInfo(name=model, config=first.config, facts=first.facts)
        strategy = choose_strategy(self.pm, info, len(self.ranks), sharding)
        resources = [NodeResources(r.node.name, int(r.facts.get("memory_bytes", 0) or 0),
                                   int(r.facts.get("free_bytes", 0) or 0), int(r.node.memory_bytes or 0))
                     for r in self.ranks]
        plan = strategy.plan(info, resources)
        self.plan = plan
        self._publish("plan", plan=plan.to_dict())

        async def load_rank(rank: Rank) -> None:
            assert rank.process
            await rank.process.send(protocol.Load(
                model=model, strategy=strategy.name, plan=plan.to_dict(),
                backend=transport.mlx_backend, max_batch=self.settings.max_batch,
                fault_load_error=fault.get(rank.index)))
            loaded = await self._expect(rank, protocol.Loaded, self.settings.load_timeout, "loading")
            rank.files, rank.parameters = loaded.files, dict(loaded.parameters)
            if rank.index == 0:
                self._eos = loaded.eos_token_ids
            self._set_rank_phase(rank, "idle")

        await self._all(load_rank)
        self._pumps = [asyncio.create_task(self._pump(r)) for r in self.ranks]

    # -- serving ------------------------------------------------------------------------
    async def _pump(self, rank: Rank) -> None:
        """Read a loaded rank's messages for as long as it lives."""
        assert rank.process
        try:
            async for msg in rank.process.messages():
                if isinstance(msg, (protocol.Tokens, protocol.Done)):
                    q = self._requests.get(msg.id)
                    if q is not None:
                        q.put_nowait(msg)
                elif isinstance(msg, protocol.Stats):
                    self.stats = msg.model_dump(exclude={"type"})
                    self._publish("token_rate", tps=msg.generation_tps, active=msg.active,
                                  waiting=msg.waiting)
                elif isinstance(msg, protocol.Error) and msg.id is not None:
                    q = self._requests.get(msg.id)
                    if q is not None:
                        q.put_nowait(protocol.Done(id=msg.id, finish_reason="error", prompt_tokens=0,
                                                   completion_tokens=0, error=msg.message))
                else:
                    self._handle_common(rank, msg)
        except asyncio.CancelledError:
            return
        if self.state == "idle":  # a rank died under a loaded cluster
            err = self._rank_failure(rank, "the runner exited unexpectedly")
            self.error = getattr(err, "failure", None) or {"message": str(err)}
            self._publish("error", message=str(err), error=self.error)
            asyncio.create_task(self._fail_cluster())

    async def _fail_cluster(self) -> None:
        async with self._lock:
            if self.state == "idle":
                await self._teardown("a rank failed", from_pump=True)
                self._set_state("failed")

    def generate(self, request: protocol.Generate) -> AsyncIterator[Any]:
        """Admit ``request`` now (or raise 503/404/429) and return the stream of its output.

        The stream yields rank 0's ``Tokens`` and a final ``Done``. Closing it early (the client
        went away) cancels the request on the cluster and frees its slot.
        """
        if self.state == "loading":
            raise Unavailable(f"cluster {self.name} is still loading {self.model}", retry_after=5)
        if self.state == "rebooting":
            raise Unavailable(f"cluster {self.name} is rebooting", retry_after=15)
        if self.state != "idle":
            raise NotFound(f"cluster {self.name} is {self.state}, not serving")
        limit = self.settings.max_batch + self.settings.max_queue
        if len(self._requests) >= limit:
            raise Overloaded(f"cluster {self.name} has {len(self._requests)} requests open (limit {limit})",
                             hint="retry later or raise ODYSSAI_MAX_QUEUE")
        if request.id in self._requests:
            raise Conflict(f"request id {request.id!r} is already in use")
        q: asyncio.Queue[Any] = asyncio.Queue()
        self._requests[request.id] = q
        self.counters["requests"] += 1
        return self._stream(request, q)

    async def _stream(self, request: protocol.Generate, q: asyncio.Queue[Any]) -> AsyncIterator[Any]:
        rid = request.id
        finished = False
        try:
            await self.ranks[0].process.send(request)  # type: ignore[union-attr]
            held: Any = _NOTHING
            while True:
                msg, held = (await q.get() if held is _NOTHING else held), _NOTHING
                if isinstance(msg, protocol.Tokens):
                    # a slow reader gets the tokens already waiting as one larger chunk
                    batch = [msg]
                    while not q.empty():
                        nxt = q.get_nowait()
                        if not isinstance(nxt, protocol.Tokens):
                            held = nxt
                            break
                        batch.append(nxt)
                    msg = _merge(batch)
                if msg is None:
                    raise LoadFailed(f"cluster {self.name} failed while generating",
                                     hint=(self.error or {}).get("remedy") or f"see odyssai logs {self.name}")
                if isinstance(msg, protocol.Done):
                    finished = True
                    self.counters["prompt_tokens"] += msg.prompt_tokens
                    self.counters["completion_tokens"] += msg.completion_tokens
                    if msg.finish_reason == "error":
                        self.counters["errors"] += 1
                    self._publish("request_done", model=self.model, finish_reason=msg.finish_reason,
                                  prompt_tokens=msg.prompt_tokens, completion_tokens=msg.completion_tokens,
                                  ttft=msg.ttft, seconds=msg.seconds)
                yield msg
                if finished:
                    return
        except ConnectionError as e:
            raise LoadFailed(f"cluster {self.name}: {e}") from None
        finally:
            self._requests.pop(rid, None)
            if not finished:
                self._publish("request_done", model=self.model, finish_reason="cancelled",
                              prompt_tokens=0, completion_tokens=0, ttft=0.0, seconds=0.0)
            if not finished and self.state == "idle" and self.ranks[0].process:
                try:
                    await self.ranks[0].process.send(protocol.Cancel(id=rid))
                except ConnectionError:
                    pass

    # -- remediation ---------------------------------------------------------------------
    @property
    def generating(self) -> bool:
        """True while requests are being generated (a reboot now would cut them off)."""
        return bool(self._requests)

    async def run_on_node(self, node_name: str, command: str, timeout: float) -> Any:
        return await run_on_node(self.spec.node(node_name), command, timeout=timeout,
                                 connect_timeout=self.settings.connect_timeout)

    async def wait_ssh(self, node_name: str, timeout: float) -> bool:
        """Poll until SSH to the node answers (host key verified); False after ``timeout``."""
        node = self.spec.node(node_name)
        if node.spawner == "local":
            return True
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                conn = await connect(node, min(5.0, self.settings.connect_timeout))
                conn.close()
                return True
            except OdyssaiError:
                await asyncio.sleep(0.5)
        return False

    async def watch_session(self, node_name: str) -> "SessionWatch":
        """Hold an SSH session open on the node; it is lost when the node goes down."""
        node = self.spec.node(node_name)
        conn = await connect(node, self.settings.connect_timeout)
        proc = await conn.create_process("exec sleep 86400")
        return SessionWatch(conn, proc)

    async def reload(self) -> Any:
        """Load again what was loaded before a reboot (nothing when nothing was)."""
        model, sharding = self._reboot_model
        if model is None:
            return None
        self.state = "unloaded"
        return await self.load(model, sharding, wait=True)

    async def reboot(self, nodes: list[str] | None = None, *, reason: str = "requested") -> dict[str, Any]:
        """Reboot ``nodes`` (default: all) with the installed reboot remedy, then reload.

        Refused while generating, loading or already rebooting. The cluster shows ``rebooting``
        meanwhile; the report has each node's timings.
        """
        remedy = self.pm.remedies.get("reboot")
        if remedy is None:
            raise Conflict("no reboot remedy is installed", hint="pip install odyssai-transport-jaccl")
        for n in nodes or []:
            self.spec.node(n)  # 404 for an unknown node
        if self.generating:
            raise Conflict(f"cluster {self.name} is generating: a reboot now would cut its requests off",
                           hint="wait until it is idle, then reboot")
        if self._lock.locked() or self.state in {"loading", "stopping", "rebooting"}:
            raise Conflict(f"cluster {self.name} is {self.state}", hint="wait for it to finish")
        async with self._lock:
            self._reboot_model = (self.model, self.requested_sharding)
            await self._teardown("reboot")
            self._set_state("rebooting")
            self._publish("reboot", phase="started", nodes=nodes or [n.name for n in self.spec.nodes],
                          reason=reason)

        def progress(event: dict[str, Any]) -> None:
            self._publish("reboot", **event)

        try:
            report = await remedy.perform(self, nodes or [], progress)
        except BaseException:
            if self.state == "rebooting":
                self._set_state("failed")
            raise
        self.reboot_report = report
        if self.state == "rebooting":  # nothing was reloaded
            self.model = None if report.get("ok") else self.model
            self._set_state("unloaded" if report.get("ok") else "failed")
        if not report.get("ok"):
            self.error = {"message": "reboot failed: " + "; ".join(report.get("problems", [])),
                          "kind": "RebootFailed"}
        return {**self.status(), "reboot": report}

    # -- unload -------------------------------------------------------------------------
    async def unload(self) -> dict[str, Any]:
        """Stop every runner of the cluster; safe to call in any state."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        async with self._lock:
            await self._teardown("unload")
            self.model, self.plan, self.error, self.load_seconds = None, None, None, None
            self._set_state("unloaded")
        return self.status()

    async def _teardown(self, why: str, from_pump: bool = False) -> None:
        """Stop every rank: ask rank 0 to shut the group down, then make sure each is gone."""
        for t in self._pumps:
            if not (from_pump and t is asyncio.current_task()):
                t.cancel()
        self._pumps = []
        prev = self.state
        self.state = "stopping"
        for q in self._requests.values():
            q.put_nowait(None)

        async def stop(rank: Rank) -> None:
            if rank.process is None:
                return
            try:
                await rank.process.send(protocol.Shutdown())
            except ConnectionError:
                pass
            await rank.process.stop(grace=5.0)
            if rank.phase not in {"failed"}:
                self._set_rank_phase(rank, "stopped")

        await asyncio.gather(*(stop(r) for r in self.ranks), return_exceptions=True)
        log.info("cluster %s: ranks stopped (%s, was %s)", self.name, why, prev)

    def _on_stderr(self, rank: int, line: str) -> None:
        self._publish("log", rank=rank, line=line)

    def logs(self, rank: int | None = None, last: int = 200) -> list[dict[str, Any]]:
        out = []
        for r in self.ranks:
            if rank is not None and r.index != rank:
                continue
            if r.process:
                out += [{"rank": r.index, "node": r.node.name, "line": line}
                        for line in list(r.process.stderr_lines)[-last:]]
        return out


_NOTHING = object()


def _merge(msgs: list[Any]) -> Any:
    """Several ``Tokens`` of one request as one (text, token ids and logprobs in order)."""
    if len(msgs) == 1:
        return msgs[0]
    first = msgs[0]
    lps = [lp for m in msgs for lp in (m.logprobs or [])]
    return protocol.Tokens(id=first.id, text="".join(m.text for m in msgs),
                           token_ids=[t for m in msgs for t in m.token_ids],
                           logprobs=lps if first.logprobs is not None else None)


class SessionWatch:
    """An SSH session held open across a reboot: ``wait_lost`` returns when it drops."""

    def __init__(self, conn: Any, proc: Any):
        self.conn, self.proc = conn, proc

    async def wait_lost(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.proc.wait_closed(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
        except Exception:
            return True  # the connection broke: the node went down

    def close(self) -> None:
        self.conn.close()


class ClusterManager:
    """The clusters of the topology file, created on first use and kept while loaded."""

    def __init__(self, settings: Any, pm: Any):
        self.settings = settings
        self.pm = pm
        self.events = EventBus()
        self.clusters: dict[str, Cluster] = {}
        self._added: set[str] = set()
        self.refresh()

    def refresh(self) -> None:
        """Re-read topology.yaml: clusters not running take their new definition."""
        topo = load_topology(self.settings.topology_path)
        for name, spec in topo.clusters.items():
            c = self.clusters.get(name)
            if c is None:
                self.clusters[name] = Cluster(name, spec, self)
            elif c.spec != spec and c.state in {"unloaded", "failed"} and not c._lock.locked():
                c.spec = spec  # keeps what a failed cluster remembers (its model, its error)
                c.ranks = [Rank(i, n) for i, n in enumerate(spec.nodes)]
        for name in list(self.clusters):
            c = self.clusters[name]
            if (name not in topo.clusters and name not in self._added
                    and c.state in {"unloaded", "failed"} and not c._lock.locked()):
                del self.clusters[name]  # deleted from the file, and nothing of it runs

    def specs(self, excluding: str | None = None) -> dict[str, ClusterSpec]:
        """The definitions of every cluster known here (the file's and those added directly)."""
        return {n: c.spec for n, c in self.clusters.items() if n != excluding}

    def get(self, name: str) -> Cluster:
        if name not in self.clusters or self.clusters[name].state in {"unloaded", "failed"}:
            self.refresh()
        try:
            return self.clusters[name]
        except KeyError:
            known = ", ".join(sorted(self.clusters)) or "none"
            raise NotFound(f"no cluster {name!r}", hint=f"clusters in {self.settings.topology_path}: {known}") from None

    def add(self, name: str, spec: ClusterSpec) -> Cluster:
        """Add a cluster that is not in the topology file (e.g. the local demo cluster)."""
        c = Cluster(name, spec, self)
        self.clusters[name] = c
        self._added.add(name)  # not in the file: refresh() must not forget it
        return c

    def serving(self, model: str) -> Cluster:
        """The cluster that serves ``model``; 404 listing what is loaded, 503 while loading."""
        loading = None
        for c in self.clusters.values():
            if c.model == model:
                if c.state == "idle":
                    return c
                if c.state in {"loading", "rebooting"}:
                    loading = c
        if loading is not None:
            raise Unavailable(f"model {model!r} is still loading on cluster {loading.name}",
                              retry_after=5 if loading.state == "loading" else 15)
        loaded = sorted(c.model for c in self.clusters.values() if c.model and c.state == "idle")
        raise NotFound(f"model {model!r} is not loaded", param="model", code="model_not_found",
                       hint="loaded models: " + (", ".join(loaded) if loaded else "none"))

    def loaded(self) -> list[Cluster]:
        return [c for c in self.clusters.values() if c.state == "idle" and c.model]

    async def shutdown(self) -> None:
        """Stop every runner of every cluster."""
        await asyncio.gather(*(c.unload() for c in self.clusters.values()), return_exceptions=True)
