"""The hook specifications of OdyssAI-X, grouped by area.

Every behaviour of the product is a plugin implementing some of these hooks. Named things
(transports, shard strategies, discoverers, remedies, doctor checks) are registered through a
``register`` callback so that core can reject duplicate names and say which two distributions
clash. ``firstresult`` is used only for selection hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import pluggy

if TYPE_CHECKING:
    import typer

    from .discovery import Discoverer
    from .doctor import DoctorCheck
    from .remediation import Remedy
    from .sharding import ModelInfo, ShardStrategy
    from .transport import Transport

PROJECT = "odyssai"
hookspec = pluggy.HookspecMarker(PROJECT)


# --------------------------------------------------------------------------------------------
# transport
# --------------------------------------------------------------------------------------------

@hookspec
def odyssai_register_transports(register: Callable[["Transport"], None]) -> None:
    """Register the transports (MLX distributed backends) this plugin provides.

    Called once when the plugin manager is built.

    :param register: call ``register(transport)`` once per ``Transport`` instance; its ``name``
        must be unique across all installed plugins.
    """


# --------------------------------------------------------------------------------------------
# sharding
# --------------------------------------------------------------------------------------------

@hookspec
def odyssai_register_shard_strategies(register: Callable[["ShardStrategy"], None]) -> None:
    """Register the sharding strategies this plugin provides.

    Called once when the plugin manager is built.

    :param register: call ``register(strategy)`` once per ``ShardStrategy`` instance; its
        ``name`` must be unique across all installed plugins.
    """


@hookspec(firstresult=True)
def odyssai_select_shard_strategy(model: "ModelInfo", n_ranks: int,
                                  requested: str | None) -> str | None:
    """Choose the strategy for a load, overriding core's default choice.

    Called at each load before core's default (requested, else the first strategy by priority
    that accepts). The first non-None answer wins.

    :param model: the model about to be loaded.
    :param n_ranks: how many ranks the cluster has.
    :param requested: the ``sharding`` the user asked for, if any.
    :return: a registered strategy's name, or None to let core choose.
    """


# --------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------

@hookspec
def odyssai_register_discoverers(register: Callable[["Discoverer"], None]) -> None:
    """Register discoverers that probe a cluster's nodes for Thunderbolt ports and cables.

    Called once when the plugin manager is built.

    :param register: call ``register(discoverer)`` once per ``Discoverer`` instance.
    """


# --------------------------------------------------------------------------------------------
# remediation
# --------------------------------------------------------------------------------------------

@hookspec
def odyssai_register_remedies(register: Callable[["Remedy"], None]) -> None:
    """Register remedies for classified cluster failures (e.g. "reboot these nodes").

    Called once when the plugin manager is built.

    :param register: call ``register(remedy)`` once per ``Remedy`` instance.
    """


@hookspec
def odyssai_register_doctor_checks(register: Callable[["DoctorCheck"], None]) -> None:
    """Register checks that ``odyssai doctor`` runs on every node of a cluster.

    Called once when the plugin manager is built.

    :param register: call ``register(check)`` once per ``odyssai.doctor.DoctorCheck`` instance; its
        ``name`` must be unique across all installed plugins.
    """


# --------------------------------------------------------------------------------------------
# api surface
# --------------------------------------------------------------------------------------------

@hookspec
def odyssai_litestar_plugins() -> list[Any]:
    """Contribute Litestar ``InitPlugin`` objects that add routes under their own prefix.

    Called once per server app built by ``odyssai.server.create_app``. Route handlers reach the
    running clusters through ``request.app.state.manager`` (a ``ClusterManager``) and the
    settings through ``request.app.state.settings``.

    :return: a list of Litestar ``InitPluginProtocol`` instances.
    """


@hookspec
def odyssai_cli(app: "typer.Typer") -> None:
    """Add sub-commands to the ``odyssai`` command line.

    Called once when the CLI starts, before arguments are parsed.

    :param app: the root Typer app; use ``app.add_typer(sub, name=...)`` or ``app.command()``.
    """
