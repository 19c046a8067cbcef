"""``odyssai cluster ...`` (change topology.yaml) and ``odyssai doctor`` (would each node load?).

Every ``cluster`` command validates what it is given, refuses to change a cluster the running
server has loaded (it asks ``GET /admin/{cluster}``; when no server answers it goes on), applies
one ``odyssai.configurator`` operation and writes the file with ``save_clusters``: atomically,
with a backup, and without touching any other cluster. Errors are one line and an exit code.

Mounted by ``odyssai.cli``: ``app.add_typer(cluster_app, name="cluster")`` and
``app.command("doctor")(doctor_command)``.
"""

from __future__ import annotations

import json
from typing import Any, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from . import configurator as conf
from .cli_errors import confirm, user_errors
from .errors import Conflict


def _cli() -> Any:
    """``odyssai.cli``, imported late: it may import this module while it is being loaded."""
    from . import cli

    return cli


def settings() -> Any:
    return _cli().settings()


def plugin_manager() -> Any:
    return _cli().plugin_manager()

cluster_app = typer.Typer(help="Create and change the clusters of topology.yaml.", no_args_is_help=True)

_PYTHON = typer.Option(None, "--python", help="the node's Python with odyssai[runner] (default python3)")
_MODELS = typer.Option(None, "--models-dir", help="where the models are on the node(s)")
_IDENTITY = typer.Option(None, "--identity-file", help="SSH private key for the node(s)")
_KNOWN = typer.Option(None, "--known-hosts", help="known_hosts file with the node(s)' host keys")


def ensure_not_loaded(cluster: str, s: Any = None, timeout: float = 5.0) -> None:
    """Refuse (``Conflict``) when the server of these settings has ``cluster`` loaded.

    No server answering means nobody runs it: go on. An answer we cannot read refuses.
    """
    import httpx

    from .client import ServerClient

    client = ServerClient.from_settings(s or settings())
    try:
        r = client.http.get(f"/admin/{cluster}", timeout=timeout)
    except httpx.ConnectError:
        return
    except httpx.HTTPError as e:
        raise Conflict(f"cannot tell whether cluster {cluster} is loaded: the server at {client.base_url} "
                       f"did not answer ({type(e).__name__})", hint="try again, or stop the server") from None
    finally:
        client.close()
    try:
        body = r.json()
    except ValueError:
        body = None
    refusal = conf.answer_refusal(cluster, r.status_code, body, client.base_url)
    if refusal is not None:
        raise refusal


def _commit(change: conf.Change) -> None:
    from .topology import save_clusters

    path = settings().topology_path
    backup = save_clusters(path, change.clusters())
    for w in change.warnings:
        _cli().err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False)
    _cli().out.print(f"{change.summary} in {path}" + (f" (backup: {backup.name})" if backup else ""),
                     highlight=False, markup=False, soft_wrap=True)


def _topology():
    from .topology import load_topology

    return load_topology(settings().topology_path)


def _node_fields(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


@cluster_app.command("create")
@user_errors
def create(name: str = typer.Argument(..., help="the new cluster's name"),
           backend: str = typer.Option(..., "--backend", help="transport: ring, jaccl, ..."),
           node: List[str] = typer.Option([], "--node", help=f"{conf.NODE_SPEC}, in rank order; repeat"),
           models_dir: Optional[str] = _MODELS, python: Optional[str] = _PYTHON,
           identity_file: Optional[str] = _IDENTITY, known_hosts: Optional[str] = _KNOWN) -> None:
    """Add a new cluster to topology.yaml."""
    shared = _node_fields(python=python, identity_file=identity_file, known_hosts=known_hosts)
    nodes = [conf.make_node({"spec": spec, **shared}) for spec in node]
    _commit(conf.create_cluster(_topology(), name, backend, nodes, plugin_manager(), models_dir=models_dir))


@cluster_app.command("add-node")
@user_errors
def add_node(cluster: str = typer.Argument(...),
             node: str = typer.Argument(..., help=conf.NODE_SPEC),
             ip: Optional[str] = typer.Option(None, "--ip", help="its Ethernet IPv4 (default: host)"),
             python: Optional[str] = _PYTHON, models_dir: Optional[str] = _MODELS,
             identity_file: Optional[str] = _IDENTITY, known_hosts: Optional[str] = _KNOWN) -> None:
    """Add a node to a cluster as its last rank."""
    new = conf.make_node({"spec": node, **_node_fields(ip=ip, python=python, models_dir=models_dir,
                                                        identity_file=identity_file, known_hosts=known_hosts)})
    topo = _topology()
    topo.cluster(cluster)
    ensure_not_loaded(cluster)
    _commit(conf.add_node(topo, cluster, new, plugin_manager()))


@cluster_app.command("remove-node")
@user_errors
def remove_node(cluster: str = typer.Argument(...), node: str = typer.Argument(...)) -> None:
    """Remove a node (and its cables in rdma_to) from a cluster."""
    topo = _topology()
    topo.cluster(cluster).node(node)
    ensure_not_loaded(cluster)
    _commit(conf.remove_node(topo, cluster, node, plugin_manager()))


@cluster_app.command("set-backend")
@user_errors
def set_backend(cluster: str = typer.Argument(...),
                backend: str = typer.Argument(..., help="ring, jaccl, ...")) -> None:
    """Switch a cluster to another installed transport."""
    topo = _topology()
    topo.cluster(cluster)
    ensure_not_loaded(cluster)
    _commit(conf.set_backend(topo, cluster, backend, plugin_manager()))


@cluster_app.command("delete")
@user_errors
def delete(cluster: str = typer.Argument(...),
           yes: bool = typer.Option(False, "--yes", "-y", help="do not ask")) -> None:
    """Remove a cluster from topology.yaml (a backup of the file is kept)."""
    topo = _topology()
    c = topo.cluster(cluster)
    ensure_not_loaded(cluster)
    if not confirm(f"delete cluster {cluster} ({len(c.nodes)} node(s))?", yes=yes, what=f"cluster delete {cluster}"):
        _cli().err.print("nothing deleted")
        raise typer.Exit(1)
    _commit(conf.delete_cluster(topo, cluster))


@cluster_app.command("list")
@user_errors
def list_clusters(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """The clusters of topology.yaml: backend, models_dir and nodes in rank order."""
    topo = _topology()
    if as_json:
        data = [{"name": name, **c.model_dump(mode="json", exclude_none=True)} for name, c in topo.clusters.items()]
        typer.echo(json.dumps({"clusters": data}, indent=2))
        return
    if not topo.clusters:
        _cli().out.print(f"no clusters in {settings().topology_path}", highlight=False, markup=False, soft_wrap=True)
        return
    table = Table("cluster", "backend", "models_dir", "nodes (rank order)")
    for name, c in topo.clusters.items():
        nodes = ", ".join(f"{n.name}={n.user + '@' if n.user else ''}{n.host}:{n.port}" for n in c.nodes)
        table.add_row(name, c.backend, c.models_dir, nodes)
    _cli().out.print(table)


# --- doctor ----------------------------------------------------------------------------------

_MARK = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}


def _render(report: Any) -> Table:
    verdict = "[green]every node would load[/]" if report.ok else f"[red]would fail on {', '.join(report.failing())}[/]"
    table = Table(title=f"{report.cluster} ({report.backend}): {verdict}", title_justify="left")
    for col in ("node", "check", "status", "message", "fix"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        table.add_row(f.node or "(cluster)", f.check, _MARK[f.status], escape(f.message), escape(f.fix))
    return table


@user_errors
def doctor_command(cluster: Optional[str] = typer.Argument(None, help="one cluster (default: all)"),
                   as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Check every node over SSH: host key, python, packages, MLX versions, models_dir, disk, memory.

    Exits non-zero when a node would fail to load.
    """
    import asyncio

    from .doctor import diagnose

    s, pm = settings(), plugin_manager()
    topo = _topology()
    names = [cluster] if cluster else list(topo.clusters)
    specs = [(n, topo.cluster(n)) for n in names]

    async def all_clusters():
        return await asyncio.gather(*(diagnose(n, c, pm, connect_timeout=s.connect_timeout, others=topo.others(n))
                                      for n, c in specs))

    reports = asyncio.run(all_clusters()) if specs else []
    ok = all(r.ok for r in reports)
    if as_json:
        typer.echo(json.dumps({"ok": ok, "clusters": [r.to_dict() for r in reports]}, indent=2))
    elif not reports:
        _cli().out.print(f"no clusters in {s.topology_path}", highlight=False, markup=False, soft_wrap=True)
    for r in reports if not as_json else []:
        _cli().out.print(_render(r))
    if not ok:
        raise typer.Exit(1)
