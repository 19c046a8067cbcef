"""One runner's life: hello → (inspect…) → load → serve → stopped, and how it ends.

The main thread does all MLX work. The stdin reader thread hands ``Inspect`` to a thread of its
own, queues everything else for the main thread, and on ``Shutdown`` arms a fallback: if rank
0's shared stop has not ended the process within a few seconds (rank 0 gone, a peer stuck), it
exits anyway.
End of stdin or a vanished parent ends the process at once (see ``channel``).
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from ..protocol import Cancel, Done, Error, Generate, Hello, Inspect, Load, Loaded, PhaseChanged, Progress, Shutdown
from . import EXIT_FAILED, EXIT_OK
from .channel import ControlChannel, die, read_stdin, start_daemon, watch_parent
from .node import node_facts

log = logging.getLogger("odyssai.runner")

SHUTDOWN_GRACE = {True: 10.0, False: 5.0}  #: seconds before exiting anyway, by "is rank 0"


class LoadError(RuntimeError):
    """A load that cannot go on; the message is for the user."""


class Runner:
    def __init__(self, args: argparse.Namespace, channel: ControlChannel):
        self.rank: int = args.rank
        self.size: int = args.size
        self.models_dir = Path(args.models_dir).expanduser()
        self.cluster: str = args.cluster
        self.parent_pid: int | None = getattr(args, "parent_pid", None)
        self.channel = channel
        self.inbox: "queue.Queue[Any]" = queue.Queue()
        self._pm: Any = None
        self._pm_lock = threading.Lock()
        self._ending = threading.Lock()
        self._grace: threading.Timer | None = None
        self._imports: threading.Thread | None = None
        self._inspections: "queue.Queue[Inspect]" = queue.Queue()

    # -- plumbing -------------------------------------------------------------------------
    def send(self, msg: Any) -> None:
        self.channel.send(msg)

    def plugins(self) -> Any:
        with self._pm_lock:
            if self._pm is None:
                from ..plugins import get_plugin_manager

                self._pm = get_plugin_manager()
            return self._pm

    def end(self, code: int, phase: str = "stopped", detail: str = "") -> NoReturn:
        """Report the final phase once and leave (from any thread)."""
        if not self._ending.acquire(blocking=False):
            while True:  # another thread is already ending the process
                time.sleep(1)
        try:
            self.send(PhaseChanged(phase=phase, detail=detail))  # type: ignore[arg-type]
        finally:
            sys.stderr.flush()
            os._exit(code)

    def deliver(self, msg: Any) -> None:
        """Called on the stdin reader thread for every message."""
        if isinstance(msg, Inspect):  # answered on their own thread: stdin stays watched
            self._inspections.put(msg)
            return
        if isinstance(msg, Generate) and self.rank != 0:
            self.send(Done(id=msg.id, finish_reason="error", prompt_tokens=0, completion_tokens=0,
                           error=f"rank {self.rank} takes no requests: send them to rank 0"))
            return
        if isinstance(msg, Shutdown) and self._grace is None:
            grace = SHUTDOWN_GRACE[self.rank == 0]
            self._grace = threading.Timer(grace, self.end, args=(EXIT_OK, "stopped", "shutdown without rank 0's stop"))
            self._grace.daemon = True
            self._grace.start()
        self.inbox.put(msg)

    def answer_inspections(self) -> None:
        from .inspection import inspect_model

        while True:
            msg = self._inspections.get()
            self.send(inspect_model(self.models_dir, msg.model, self.plugins().strategies_by_priority()))

    # -- phases ---------------------------------------------------------------------------
    def wait_for_load(self) -> Load | None:
        while True:
            msg = self.inbox.get()
            if isinstance(msg, Load):
                return msg
            if isinstance(msg, Shutdown):
                return None
            if isinstance(msg, Generate):
                self.send(Done(id=msg.id, finish_reason="error", prompt_tokens=0, completion_tokens=0,
                               error="no model is loaded yet"))
            elif not isinstance(msg, Cancel):
                log.warning("ignoring %s before load", msg.type)

    def load(self, req: Load) -> tuple[Any, Any, Any, int | None]:
        from ..sharding import ShardPlan
        from .loading import load_tokenizer, local_parameters, resolve_model

        self.send(PhaseChanged(phase="loading", detail=req.model))
        started = time.perf_counter()
        path = resolve_model(self.models_dir, req.model)
        if not path.is_dir():
            raise LoadError(f"model {req.model!r} is not in {self.models_dir}")
        pm = self.plugins()
        strategy = pm.shard_strategies.get(req.strategy)
        if strategy is None:
            have = ", ".join(pm.shard_strategies.names()) or "none"
            raise LoadError(f"shard strategy {req.strategy!r} is not installed on this node (installed: {have})")
        plan = ShardPlan.from_dict({"strategy": req.strategy, "n_ranks": self.size, **req.plan})
        if plan.n_ranks != self.size:
            raise LoadError(f"the plan is for {plan.n_ranks} ranks, this cluster has {self.size}")
        # MLX's group init holds the GIL while it waits for peers: finish importing first
        if self._imports is not None:
            self._imports.join()
        if req.fault_load_error:  # fault injection (tests): fail where a backend's init fails
            sys.stderr.write(req.fault_load_error + "\n")
            sys.stderr.flush()
            raise LoadError(req.fault_load_error)
        group = self.join_group(req.backend)
        log.info("joined the %s group as rank %d of %d after %.2fs", req.backend, self.rank, self.size,
                 time.perf_counter() - started)

        def progress(done: int, total: int, what: str = "") -> None:
            self.send(Progress(done=done, total=total, what=what))

        model, report = strategy.load(path, group, plan, self.rank, progress)
        log.info("weights loaded by %s after %.2fs", strategy.name, time.perf_counter() - started)
        tokenizer = load_tokenizer(path)
        if group is not None:
            import mlx.core as mx

            mx.eval(mx.distributed.all_sum(mx.array(1.0), group=group, stream=mx.cpu))
        self.send(Loaded(files=list(report.files), seconds=round(time.perf_counter() - started, 3),
                         eos_token_ids=sorted(int(i) for i in tokenizer.eos_token_ids),
                         parameters=local_parameters(model).to_dict()))
        self.send(PhaseChanged(phase="idle"))
        return model, tokenizer, group, context_length(path)

    def join_group(self, backend: str) -> Any:
        if self.size == 1:
            return None
        import mlx.core as mx

        group = mx.distributed.init(backend=backend, strict=True)
        if group.size() != self.size or group.rank() != self.rank:
            raise LoadError(f"the {backend} group has this process as rank {group.rank()} of {group.size()}, "
                            f"but it was started as rank {self.rank} of {self.size}")
        return group

    # -- the whole life -------------------------------------------------------------------
    def run(self) -> NoReturn:
        self.send(Hello(rank=self.rank, size=self.size, pid=os.getpid(), node=node_facts(self.cluster)))
        self.send(PhaseChanged(phase="starting"))
        start_daemon(self.answer_inspections, name="odyssai-inspect")
        start_daemon(read_stdin, self.channel, self.deliver, name="odyssai-stdin")
        start_daemon(watch_parent, self.parent_pid, name="odyssai-parent")
        self._imports = start_daemon(warm_imports, name="odyssai-imports")
        req = self.wait_for_load()
        if req is None:
            self.end(EXIT_OK)
        try:
            model, tokenizer, group, context = self.load(req)
        except Exception as e:
            from .loading import describe_load_error

            message = describe_load_error(e, self.rank)
            log.error("load failed: %s", message)
            self.send(Error(message=message, where="load", traceback=traceback.format_exc()))
            self.end(EXIT_FAILED, "failed", message)
        from .serve import serve

        scheduler: list[Any] = []
        try:
            serve(model, tokenizer, group, self.rank, req.max_batch, self.send, self.inbox, context,
                  on_scheduler=scheduler.append)
        except Exception as e:
            message = f"rank {self.rank}: generation failed: {' '.join(str(e).split()) or type(e).__name__}"
            log.error("%s", message)
            for s in scheduler:
                s.fail_all("error", message)
            self.send(Error(message=message, where="generate", traceback=traceback.format_exc()))
            self.end(EXIT_FAILED, "failed", message)
        self.end(EXIT_OK)


def warm_imports() -> None:
    """Import MLX and mlx-lm (seconds of work) while waiting for ``Load``."""
    try:
        import mlx.core  # noqa: F401
        import mlx_lm.generate  # noqa: F401
        import mlx_lm.utils  # noqa: F401
    except Exception as e:  # the load will report it properly
        log.warning("importing mlx-lm failed: %s", e)


def context_length(model_path: Path) -> int | None:
    import json

    try:
        config = json.loads((model_path / "config.json").read_text())
    except (OSError, ValueError):
        return None
    text = config.get("text_config") or {}
    value = config.get("max_position_embeddings") or text.get("max_position_embeddings")
    return int(value) if value else None


def run(args: argparse.Namespace) -> int:
    channel = ControlChannel.open()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"[rank {args.rank}] %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return Runner(args, channel).run()
    except SystemExit:
        raise
    except BaseException as e:  # a bug: say so on the channel, then leave
        message = f"rank {args.rank}: runner crashed: {type(e).__name__}: {e}"
        channel.send(Error(message=message, where="runner", traceback=traceback.format_exc()))
        channel.send(PhaseChanged(phase="failed", detail=message))
        die(EXIT_FAILED, "crashed")
        return EXIT_FAILED
