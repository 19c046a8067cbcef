"""What a sharding strategy is: whether a model can be split over N ranks, how, and the split.

Orchestrator side (no MLX needed): ``check`` and ``plan``, from the model's ``config.json`` and
the ``facts`` each strategy's ``inspect`` reported from a node. Runner side (MLX imported):
``inspect`` and ``load``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, ClassVar


@dataclass
class ModelInfo:
    """A model as seen before loading: its name, ``config.json``, and per-strategy facts."""

    name: str
    config: dict[str, Any]
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type", "unknown"))

    @property
    def num_layers(self) -> int:
        c = self.config
        return int(c.get("num_hidden_layers") or c.get("n_layer") or c.get("num_layers") or 0)

    @property
    def num_heads(self) -> int:
        return int(self.config.get("num_attention_heads") or 0)

    @property
    def num_kv_heads(self) -> int:
        c = self.config
        return int(c.get("num_key_value_heads") or c.get("num_attention_heads") or 0)


@dataclass
class NodeResources:
    """A node's memory as its runner read it at load time (0: unknown), and the node's
    ``memory_bytes`` of topology.yaml, which overrides the reading when set (0: not set)."""

    name: str
    memory_bytes: int = 0
    free_bytes: int = 0
    override_bytes: int = 0


@dataclass
class ShardPlan:
    """How a model is split. ``ranks[i]`` holds what rank i needs (e.g. its layer range)."""

    strategy: str
    n_ranks: int
    ranks: list[dict[str, Any]] = field(default_factory=list)
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ShardPlan":
        return cls(strategy=d["strategy"], n_ranks=int(d["n_ranks"]),
                   ranks=list(d.get("ranks", [])), summary=d.get("summary", ""))


#: reports load progress from inside ``ShardStrategy.load``: (done, total, what)
Progress = Callable[[int, int, str], None]


@dataclass
class LoadReport:
    """What a rank loaded: the weight files it read (relative to the model directory)."""

    files: list[str] = field(default_factory=list)


@dataclass
class LocalParameters:
    """What a loaded rank holds, counted from the model it returned (so a split that did not
    happen shows): parameters (elements) and bytes, in the decoder layers and in total."""

    parameters: int = 0
    bytes: int = 0
    layer_parameters: int = 0
    layer_bytes: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class ShardStrategy:
    """Base class of sharding strategies. Higher ``priority`` is tried first."""

    name: ClassVar[str] = ""
    priority: ClassVar[int] = 0
    description: ClassVar[str] = ""

    # -- runner side --------------------------------------------------------------------
    def inspect(self, model_class: type, config: dict[str, Any]) -> dict[str, Any]:
        """On a node, with mlx-lm imported: facts about the model class this strategy needs."""
        return {}

    def load(self, model_path: Any, group: Any, plan: ShardPlan, rank: int,
             progress: Progress) -> tuple[Any, LoadReport]:
        """On each rank: build the model, load this rank's part of the weights, return it."""
        raise NotImplementedError

    # -- orchestrator side --------------------------------------------------------------
    def check(self, model: ModelInfo, n_ranks: int) -> str | None:
        """None when the model can be split over ``n_ranks``; else the reason, in one line."""
        raise NotImplementedError

    def plan(self, model: ModelInfo, nodes: list[NodeResources]) -> ShardPlan:
        """Split the model over ``nodes`` (rank order). Only called after ``check`` accepted."""
        return ShardPlan(self.name, len(nodes), [{} for _ in nodes], f"{self.name} over {len(nodes)} ranks")
