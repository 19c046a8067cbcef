"""Building the plugin manager: entry points, the deny list, failures, duplicate names.

``get_plugin_manager()`` loads every distribution that declares an entry point in the group
``odyssai``. A plugin that fails to import, whose register or CLI hook raises, or whose
entry-point name another distribution already uses, is recorded (with its distribution and the
error) and skipped; the rest still load. Named registrations that clash raise ``PluginError`` naming
both distributions. The rest of core talks to plugins through the typed facade methods of
``OdyssaiPluginManager``, never through ``pm.hook`` directly.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Generic, Iterator, TypeVar

import pluggy

from . import hookspecs
from .errors import PluginError, TransportMissing

log = logging.getLogger(__name__)

GROUP = "odyssai"
DENY_ENV = "ODYSSAI_DISABLE_PLUGINS"
T = TypeVar("T")


@dataclass
class PluginFailure:
    """A plugin that could not be loaded."""

    name: str
    distribution: str
    error: str


@dataclass
class PluginInfo:
    """What ``odyssai plugins`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    hooks: list[str]
    registers: dict[str, list[str]] = field(default_factory=dict)


class Registry(Generic[T]):
    """Named objects registered by plugins; a second object with the same name is an error."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, tuple[T, str]] = {}

    def add(self, obj: T, owner: str) -> None:
        name = getattr(obj, "name", "")
        if not isinstance(name, str) or not name:
            raise PluginError(f"{owner} registered a {self.kind} without a name")
        if name in self._items:
            other = self._items[name][1]
            raise PluginError(f"{self.kind} {name!r} is registered twice: by {other} and by {owner}",
                              hint=f"uninstall one of the two distributions, or disable it with {DENY_ENV}")
        self._items[name] = (obj, owner)

    def get(self, name: str) -> T | None:
        item = self._items.get(name)
        return item[0] if item else None

    def owner(self, name: str) -> str | None:
        item = self._items.get(name)
        return item[1] if item else None

    def names(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[T]:
        return [obj for obj, _ in self._items.values()]

    def by_owner(self, owner: str) -> list[str]:
        return [n for n, (_, o) in self._items.items() if o == owner]

    def __iter__(self) -> Iterator[T]:
        return iter(self.values())

    def __len__(self) -> int:
        return len(self._items)


REGISTRIES = {
    "transport": "odyssai_register_transports",
    "shard strategy": "odyssai_register_shard_strategies",
    "discoverer": "odyssai_register_discoverers",
    "remedy": "odyssai_register_remedies",
    "doctor check": "odyssai_register_doctor_checks",
}


class OdyssaiPluginManager(pluggy.PluginManager):
    """A pluggy manager with the typed facade core uses."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.failures: list[PluginFailure] = []
        self.distributions: dict[str, tuple[str, str]] = {}  # plugin name -> (dist, version)
        self.registries: dict[str, Registry[Any]] = {k: Registry(k) for k in REGISTRIES}

    # -- loading ------------------------------------------------------------------------
    def owner_of(self, plugin_name: str) -> str:
        dist = self.distributions.get(plugin_name)
        return dist[0] if dist else plugin_name

    def fail(self, plugin_name: str, error: str, *, quiet: bool = False) -> None:
        """Record ``plugin_name`` as not loaded and unregister it, so none of its hooks runs.

        :param quiet: do not log it (the caller tells the user itself).
        """
        owner = self.owner_of(plugin_name)
        self.failures.append(PluginFailure(plugin_name, owner, error))
        if not quiet:
            log.warning("plugin %s (%s) failed: %s", plugin_name, owner, error)
        if self.has_plugin(plugin_name):
            self.unregister(name=plugin_name)

    def collect_registrations(self) -> None:
        """Call every ``register`` hook, one implementation at a time, to know who owns what.

        A plugin whose hook raises is recorded as failed and unregistered, and none of its names
        is kept; the others still load. Two plugins registering the same name is a ``PluginError``.
        """
        pending: list[tuple[Registry[Any], str, str, list[Any]]] = []  # (registry, plugin, owner, objects)
        failed: set[str] = set()
        for kind, hook_name in REGISTRIES.items():
            for impl in getattr(self.hook, hook_name).get_hookimpls():
                if impl.plugin_name in failed:
                    continue
                objs: list[Any] = []
                try:
                    impl.function(register=objs.append)
                except Exception as e:  # one broken plugin must not take every command down
                    failed.add(impl.plugin_name)
                    self.fail(impl.plugin_name, f"{hook_name} raised {type(e).__name__}: {e}")
                    continue
                pending.append((self.registries[kind], impl.plugin_name, self.owner_of(impl.plugin_name), objs))
        for registry, plugin_name, owner, objs in pending:
            if plugin_name not in failed:
                for obj in objs:
                    registry.add(obj, owner)

    # -- facade -------------------------------------------------------------------------
    @property
    def transports(self) -> Registry[Any]:
        return self.registries["transport"]

    @property
    def shard_strategies(self) -> Registry[Any]:
        return self.registries["shard strategy"]

    @property
    def discoverers(self) -> Registry[Any]:
        return self.registries["discoverer"]

    @property
    def remedies(self) -> Registry[Any]:
        return self.registries["remedy"]

    @property
    def doctor_checks(self) -> Registry[Any]:
        return self.registries["doctor check"]

    def transport(self, name: str) -> Any:
        """The transport called ``name``, or a ``TransportMissing`` saying what to install."""
        t = self.transports.get(name)
        if t is None:
            have = ", ".join(self.transports.names()) or "none"
            raise TransportMissing(
                f"transport {name!r} is not installed (pip install odyssai-transport-{name})",
                hint=f"installed transports: {have}")
        return t

    def strategies_by_priority(self) -> list[Any]:
        return sorted(self.shard_strategies.values(), key=lambda s: (-s.priority, s.name))

    def select_shard_strategy(self, model: Any, n_ranks: int, requested: str | None) -> str | None:
        return self.hook.odyssai_select_shard_strategy(model=model, n_ranks=n_ranks, requested=requested)

    def litestar_plugins(self) -> list[Any]:
        out: list[Any] = []
        for result in self.hook.odyssai_litestar_plugins():
            out.extend(result or [])
        return out

    def extend_cli(self, app: Any) -> None:
        """Let every plugin add its commands; one whose hook raises is recorded as failed (quietly:
        the CLI names it in its own warning)."""
        for impl in reversed(self.hook.odyssai_cli.get_hookimpls()):  # pluggy's own call order
            try:
                impl.function(app=app)
            except Exception as e:
                first = (str(e).splitlines() or [""])[0][:200]
                self.fail(impl.plugin_name, f"odyssai_cli raised {type(e).__name__}: {first}", quiet=True)

    def describe(self) -> list[PluginInfo]:
        """Every loaded plugin: distribution, version, hooks implemented, names registered."""
        infos = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:
                continue
            dist, version = self.distributions.get(name, (name, ""))
            hooks = sorted(c.name for c in self.get_hookcallers(plugin) or [])
            registers = {kind: reg.by_owner(self.owner_of(name))
                         for kind, reg in self.registries.items() if reg.by_owner(self.owner_of(name))}
            infos.append(PluginInfo(name, dist, version, hooks, registers))
        return sorted(infos, key=lambda i: i.name)


def _denied() -> set[str]:
    return {x.strip() for x in os.environ.get(DENY_ENV, "").split(",") if x.strip()}


def get_plugin_manager(*, entry_points: bool = True, extra: tuple[Any, ...] = ()) -> OdyssaiPluginManager:
    """Build a plugin manager with core's built-ins, every installed plugin, and ``extra``.

    :param entry_points: load the distributions of the entry-point group ``odyssai``.
    :param extra: more plugin objects (modules or instances) to register, e.g. in tests.
    """
    from . import builtin

    pm = OdyssaiPluginManager()
    pm.register(builtin, name="odyssai.builtin")
    pm.distributions["odyssai.builtin"] = ("odyssai", _version("odyssai"))
    denied = _denied()
    if entry_points:
        seen: dict[str, str] = {}  # entry-point name -> the distribution that declared it first
        for dist in md.distributions():
            dist_name = dist.metadata["Name"] or "?"
            for ep in dist.entry_points:
                if ep.group != GROUP:
                    continue
                if ep.name in denied or dist_name in denied:
                    log.info("plugin %s (%s) disabled by %s", ep.name, dist_name, DENY_ENV)
                    continue
                if ep.name in seen:
                    if seen[ep.name] != dist_name:  # (the same distribution found twice on sys.path is not a clash)
                        pm.failures.append(PluginFailure(ep.name, dist_name, (
                            f"entry point {ep.name!r} is also declared by {seen[ep.name]}; {dist_name} is not "
                            f"loaded (uninstall one of the two, or disable one with {DENY_ENV})")))
                        log.warning("plugin %s of %s clashes with %s; not loaded", ep.name, dist_name,
                                    seen[ep.name])
                    continue
                seen[ep.name] = dist_name
                try:
                    plugin = ep.load()
                    pm.register(plugin, name=ep.name)
                except Exception as e:  # a broken plugin must not take the others down
                    pm.failures.append(PluginFailure(ep.name, dist_name, f"{type(e).__name__}: {e}"))
                    log.warning("plugin %s (%s) failed to load: %s: %s", ep.name, dist_name, type(e).__name__, e)
                    continue
                pm.distributions[ep.name] = (dist_name, dist.version)
    for i, plugin in enumerate(extra):
        name = getattr(plugin, "__name__", None) or f"extra-{i}-{type(plugin).__name__}"
        pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        name = pm.get_name(e.plugin) or "a plugin"
        hooks = [h for h in dir(e.plugin) if h.startswith("odyssai_")
                 and getattr(getattr(pm.hook, h, None), "spec", None) is None]
        hook = hooks[0] if hooks else "?"
        raise PluginError(f"{pm.owner_of(name)}: hook {hook!r} has no specification",
                          hint="every odyssai_ hook must exist in odyssai.hookspecs; check its spelling") from None
    pm.collect_registrations()
    return pm


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return ""
