"""The control channel between the orchestrator and a runner: typed JSON lines, never pickle.

One message per line on the runner's stdin (orchestrator → runner) and stdout (runner →
orchestrator); the runner's stderr is its log. Over SSH these are the channel's streams.

Flow of one rank::

    runner: hello ─► orch: inspect ─► runner: inspected ─► orch: load ─► runner: phase loading,
    progress…, loaded, phase idle ─► orch (rank 0 only): generate / cancel ─► runner (rank 0
    only): token…, done ─► orch: shutdown ─► runner: phase stopped, exit.

Only rank 0 takes ``generate`` and ``cancel``; it decides what every step runs and shares that
with the other ranks through the MLX group, so all ranks stay in lockstep. A runner whose stdin
closes exits at once: orchestrator gone ⇒ runner gone.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1
Phase = Literal["starting", "loading", "idle", "generating", "failed", "stopped"]
PHASES: tuple[str, ...] = ("starting", "loading", "idle", "generating", "failed", "stopped")


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- orchestrator → runner ------------------------------------------------------------------

class Inspect(_Msg):
    """Look at ``model`` under this node's models_dir: present? its config and strategy facts."""

    type: Literal["inspect"] = "inspect"
    model: str


class Load(_Msg):
    """Join the MLX group and load this rank's part of ``model`` as ``plan`` says."""

    type: Literal["load"] = "load"
    model: str
    strategy: str
    plan: dict[str, Any]
    backend: str = Field(description="MLX backend name for mx.distributed.init")
    max_batch: int = 16
    #: fault injection, for tests only: this text is raised as the load error on this rank
    fault_load_error: str | None = None


class SamplingParams(_Msg):
    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)
    logprobs: bool = False
    top_logprobs: int = Field(0, ge=0, le=20)


class Generate(_Msg):
    """Rank 0: generate for one request. Exactly one of ``messages``/``prompt`` is set."""

    type: Literal["generate"] = "generate"
    id: str
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    params: SamplingParams = Field(default_factory=SamplingParams)


class Cancel(_Msg):
    """Rank 0: stop generating for request ``id`` (its client went away)."""

    type: Literal["cancel"] = "cancel"
    id: str


class Shutdown(_Msg):
    """Unload and exit."""

    type: Literal["shutdown"] = "shutdown"


# --- runner → orchestrator ------------------------------------------------------------------

class Hello(_Msg):
    """First line a runner writes: who it is and what the node has."""

    type: Literal["hello"] = "hello"
    protocol: int = PROTOCOL_VERSION
    rank: int
    size: int
    pid: int
    node: dict[str, Any] = Field(default_factory=dict)  # versions, platform, memory_bytes, free_bytes


class Inspected(_Msg):
    type: Literal["inspected"] = "inspected"
    model: str
    exists: bool
    path: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    error: str | None = None


class PhaseChanged(_Msg):
    type: Literal["phase"] = "phase"
    phase: Phase
    detail: str = ""


class Progress(_Msg):
    type: Literal["progress"] = "progress"
    done: int
    total: int
    what: str = ""


class Loaded(_Msg):
    """A rank's part is loaded: the weight files it read, and what it holds (``parameters``:
    counts and bytes of its local parameters, in total and in the decoder layers)."""

    type: Literal["loaded"] = "loaded"
    files: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    eos_token_ids: list[int] = Field(default_factory=list)
    parameters: dict[str, int] = Field(default_factory=dict)


class TokenLogprob(_Msg):
    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: list[dict[str, Any]] = Field(default_factory=list)


class Tokens(_Msg):
    """Rank 0: new output of request ``id``: text to show and the token ids it came from."""

    type: Literal["tokens"] = "tokens"
    id: str
    text: str
    token_ids: list[int] = Field(default_factory=list)
    logprobs: list[TokenLogprob] | None = None


class Done(_Msg):
    """Rank 0: request ``id`` has finished."""

    type: Literal["done"] = "done"
    id: str
    finish_reason: Literal["stop", "length", "cancelled", "error"]
    prompt_tokens: int
    completion_tokens: int
    ttft: float = 0.0
    seconds: float = 0.0
    error: str | None = None


class Error(_Msg):
    """Something failed. Without ``id`` the runner is failed and will exit."""

    type: Literal["error"] = "error"
    message: str
    id: str | None = None
    where: str = ""
    traceback: str = ""


class Stats(_Msg):
    """Rank 0, about once a second while generating: what the batch is doing."""

    type: Literal["stats"] = "stats"
    active: int
    waiting: int
    generation_tps: float = 0.0
    prompt_tps: float = 0.0


ToRunner = Annotated[Union[Inspect, Load, Generate, Cancel, Shutdown], Field(discriminator="type")]
FromRunner = Annotated[Union[Hello, Inspected, PhaseChanged, Progress, Loaded, Tokens, Done, Error, Stats],
                       Field(discriminator="type")]

_to_runner: TypeAdapter[Any] = TypeAdapter(ToRunner)
_from_runner: TypeAdapter[Any] = TypeAdapter(FromRunner)


class ProtocolError(ValueError):
    """A line on the control channel that is not a valid message."""


def encode(msg: _Msg) -> bytes:
    """One message as a JSON line (UTF-8, ends with a newline)."""
    return (msg.model_dump_json(exclude_none=True) + "\n").encode()


def _decode(adapter: TypeAdapter[Any], line: bytes | str) -> Any:
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    try:
        return adapter.validate_python(json.loads(line))
    except (json.JSONDecodeError, ValidationError) as e:
        raise ProtocolError(f"bad control message {line[:200]!r}: {str(e).splitlines()[0]}") from None


def decode_to_runner(line: bytes | str) -> Any:
    """Parse a line the orchestrator sent."""
    return _decode(_to_runner, line)


def decode_from_runner(line: bytes | str) -> Any:
    """Parse a line a runner sent."""
    return _decode(_from_runner, line)
