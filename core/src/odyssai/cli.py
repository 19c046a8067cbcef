"""The ``odyssai`` command line: core commands plus whatever installed plugins contribute.

Every error a user can meet is an ``OdyssaiError``: it is printed as one line on stderr and the
command exits with the error's exit code — never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .cli_errors import confirm, err, fail, user_errors  # noqa: F401  (plugins import them from here too)
from .errors import OdyssaiError

app = typer.Typer(name="odyssai", help="OdyssAI-X: one MLX model across 1-5 Macs.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
topology_app = typer.Typer(help="Show and validate ~/.odysseus/topology.yaml.", no_args_is_help=True)
config_app = typer.Typer(help="Show the settings in force.", no_args_is_help=True)
app.add_typer(topology_app, name="topology")
app.add_typer(config_app, name="config")

#: piped output (``odyssai plugins > file``) is not cut to rich's default 80 columns
out = Console(width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)


@functools.lru_cache(maxsize=1)
def plugin_manager():
    from .plugins import get_plugin_manager

    return get_plugin_manager()


def settings():
    from .settings import load_settings

    return load_settings()


@app.command("plugins")
@user_errors
def plugins_cmd(as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """List installed plugins: distribution, version, hooks, and the names they register."""
    pm = plugin_manager()
    infos = pm.describe()
    if as_json:
        data = {"plugins": [i.__dict__ for i in infos],
                "failed": [f.__dict__ for f in pm.failures]}
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table("plugin", "distribution", "version", "hooks (odyssai_...)", "registers")
    for i in infos:
        regs = "; ".join(f"{k}: {', '.join(v)}" for k, v in i.registers.items())
        hooks = "\n".join(h.removeprefix("odyssai_") for h in i.hooks)
        table.add_row(i.name, i.distribution, i.version, hooks, regs)
    out.print(table)
    for f in pm.failures:
        err.print(f"[yellow]not loaded:[/] {f.name} ({f.distribution}): {f.error}", highlight=False)


@topology_app.command("show")
@user_errors
def topology_show(cluster: Optional[str] = typer.Argument(None, help="one cluster only"),
                  as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the topology (or one cluster of it)."""
    from .topology import load_topology

    s = settings()
    topo = load_topology(s.topology_path)
    data: Any = topo.model_dump(mode="json", exclude_none=True)
    if cluster:
        data = {"clusters": {cluster: topo.cluster(cluster).model_dump(mode="json", exclude_none=True)}}
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    if not topo.clusters:
        _line(f"no clusters in {s.topology_path}")
        return
    for name, c in data["clusters"].items():
        out.print(f"[bold]{name}[/]  backend={c['backend']}  nodes={len(c['nodes'])}")
        for rank, n in enumerate(c["nodes"]):
            out.print(f"  rank {rank}: {n['name']}  {n.get('user', '')}@{n['host']}:{n.get('port', 22)}"
                      f"  ip={n.get('ip', '-')}", highlight=False)


@topology_app.command("validate")
@user_errors
def topology_validate(cluster: Optional[str] = typer.Argument(None)) -> None:
    """Check the file, each cluster's transport, and the RDMA mesh where there is one."""
    from .topology import load_topology, validate_mesh

    s = settings()
    topo = load_topology(s.topology_path)
    names = [cluster] if cluster else list(topo.clusters)
    pm = plugin_manager()
    bad = 0
    for name in names:
        c = topo.cluster(name)
        problems: list[str] = []
        try:
            pm.transport(c.backend).check(name, c, others=topo.others(name))
        except OdyssaiError as e:
            problems.append(str(e))
        if c.rdma_to is not None:
            names = [n.name for n in c.nodes]
            report = validate_mesh(names, c.rdma_to)
            if not report.ok and len(names) > 3 and validate_mesh(names, c.rdma_to, "ring").ok:
                report = validate_mesh(names, c.rdma_to, "ring")  # a ring is a valid wiring too
            problems += report.problems
        if problems:
            bad += 1
            for p in problems:
                err.print(f"[red]{name}:[/] {p}", highlight=False)
        else:
            out.print(f"[green]{name}: ok[/]")
    if bad:
        raise typer.Exit(1)


def _line(text: str) -> None:
    """One line of plain text on stdout: no markup, never wrapped (paths and diffs stay whole)."""
    out.print(text, highlight=False, markup=False, soft_wrap=True)


def _print_build(result) -> None:
    for line in result.diff_lines():
        _line(f"  {line}")
    _line(f"{result.cluster}: {sum(len(p) for p in result.rdma_to.values())} of {result.expected_edges} "
          "directed edges, mesh valid")


def _build(cluster: str, wiring: str, rebuild: bool, yes: bool, dry_run: bool) -> None:
    """Probe once, show, (confirm,) write: what is written is what was shown."""
    import asyncio

    from .wiring import WiringInvalid, build_topology, write_build

    s, pm = settings(), plugin_manager()
    try:
        result = asyncio.run(build_topology(s, pm, cluster, wiring=wiring, write=False))
    except WiringInvalid as e:
        for line in e.result.diff_lines():
            _line(f"  {line}")
        for p in e.result.problems:
            err.print(f"[red]{cluster}:[/] {p}", highlight=False)
        err.print("[red]nothing was written[/]")
        raise typer.Exit(1)
    if rebuild:
        out.print(f"{cluster}: {len(result.changes)} change(s)" + (":" if result.changes else ""))
    _print_build(result)
    if dry_run:
        out.print("dry run: nothing written")
        return
    if rebuild and not result.changes:
        out.print("the file already says so: nothing to write")
        return
    if rebuild and not confirm("write these changes?", yes=yes, what=f"topology rebuild {cluster}"):
        out.print("nothing written")
        raise typer.Exit(1)
    result = write_build(s, result)
    _line(f"wrote {s.topology_path}" + (f" (backup: {result.backup})" if result.backup else ""))


@topology_app.command("build")
@user_errors
def topology_build(cluster: str = typer.Argument(...),
                   wiring: str = typer.Option("mesh", help="mesh (every node to every node) or ring"),
                   dry_run: bool = typer.Option(False, "--dry-run", help="probe and validate, write nothing")) -> None:
    """Probe the Thunderbolt wiring, validate the mesh, and write rdma_to into topology.yaml."""
    _build(cluster, wiring, rebuild=False, yes=True, dry_run=dry_run)


@topology_app.command("rebuild")
@user_errors
def topology_rebuild(cluster: str = typer.Argument(...),
                     wiring: str = typer.Option("mesh", help="mesh or ring"),
                     yes: bool = typer.Option(False, "--yes", "-y", help="write without asking"),
                     dry_run: bool = typer.Option(False, "--dry-run", help="show the diff, write nothing")) -> None:
    """Re-probe after moving a cable or adding a node: show the before/after diff, then rewrite."""
    _build(cluster, wiring, rebuild=True, yes=yes, dry_run=dry_run)


@config_app.command("show")
@user_errors
def config_show() -> None:
    """Print the settings in force (secrets masked)."""
    typer.echo(json.dumps(settings().public(), indent=2))


@app.command("serve")
@user_errors
def serve(host: Optional[str] = typer.Option(None, help="bind address (default 127.0.0.1)"),
          port: Optional[int] = typer.Option(None, help="port (default 8000)"),
          insecure_no_key: bool = typer.Option(False, "--insecure-no-key",
                                               help="serve beyond loopback without ODYSSAI_API_KEY")) -> None:
    """Run the HTTP server (OpenAI API, admin API, dashboard) until Ctrl-C."""
    from .server import run_server

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    run_server(settings().model_copy(update=overrides), plugin_manager(), allow_no_key=insecure_no_key)


SERVER_OPT = typer.Option(None, "--server", help="server URL (default: from settings)")


def _client(server: Optional[str]):
    from .client import ServerClient

    return ServerClient.from_settings(settings(), server)


def _render_status(status: dict) -> Table:
    from .watch import progress_text

    table = Table(title=f"{status['cluster']}: {status['phase']}  model={status.get('model') or '-'}"
                        f"  backend={status['backend']}", title_justify="left")
    for col in ("rank", "node", "phase", "progress", "pid", "error"):
        table.add_column(col)
    for r in status["ranks"]:
        err_ = (r.get("error") or {}).get("message", "")
        table.add_row(str(r["rank"]), r["node"], r["phase"], progress_text(r.get("progress") or {}),
                      str(r.get("pid") or ""), err_)
    return table


def _new_load_lines(status: dict, phases_shown: dict[int, int], progress_shown: dict[int, str]) -> list[str]:
    """The lines a poll of ``status`` adds: each rank's phases since the last poll (from its
    history, so none is missed between polls) and its load progress when it moved."""
    from .watch import progress_text

    lines = []
    for r in status["ranks"]:
        where, rank = f"rank {r['rank']} ({r['node']})", r["rank"]
        history = r.get("history") or []
        if len(history) < phases_shown.get(rank, 0):  # a new load began a new history
            phases_shown[rank] = 0
        lines += [f"{where}: {phase}" for phase in history[phases_shown.get(rank, 0):]]
        phases_shown[rank] = len(history)
        progress = progress_text(r.get("progress") or {})
        if r["phase"] == "loading" and progress and progress_shown.get(rank) != progress:
            progress_shown[rank] = progress
            lines.append(f"{where}: loading {progress}")
    return lines


@app.command("load")
@user_errors
def load_cmd(cluster: str = typer.Argument(..., help="cluster name in topology.yaml"),
             model: str = typer.Argument(..., help="model directory under models_dir on every node"),
             sharding: Optional[str] = typer.Option(None, help="tensor, pipeline, ... (default: chosen)"),
             server: Optional[str] = SERVER_OPT) -> None:
    """Load a model on a cluster and show each rank's progress until it serves."""
    import time

    from rich.live import Live

    c = _client(server)
    body = {"model": model} | ({"sharding": sharding} if sharding else {})
    status = c.request("POST", f"/admin/{cluster}/load", json=body)
    if out.is_terminal:
        with Live(_render_status(status), console=out, refresh_per_second=4, transient=False) as live:
            while status["phase"] in {"loading", "starting"}:
                time.sleep(0.5)
                status = c.request("GET", f"/admin/{cluster}")
                live.update(_render_status(status))
    else:  # piped or logged: a line per phase of each rank and per progress step
        phases_shown: dict[int, int] = {}
        progress_shown: dict[int, str] = {}
        while True:
            for line in _new_load_lines(status, phases_shown, progress_shown):
                out.print(line, highlight=False, markup=False)
            if status["phase"] not in {"loading", "starting"}:
                break
            time.sleep(0.3)
            status = c.request("GET", f"/admin/{cluster}")
    if status["phase"] not in {"idle", "generating"}:
        message = (status.get("error") or {}).get("message", f"cluster is {status['phase']}")
        err.print(f"[bold red]error:[/] {message}", highlight=False)
        raise typer.Exit(1)
    plan = status.get("sharding") or {}
    out.print(f"[green]{cluster} serves {model}[/] ({plan.get('summary', '')}, "
              f"loaded in {status.get('load_seconds')}s)", highlight=False)


@app.command("unload")
@user_errors
def unload_cmd(cluster: str = typer.Argument(...), server: Optional[str] = SERVER_OPT) -> None:
    """Stop every runner of a cluster."""
    status = _client(server).request("POST", f"/admin/{cluster}/unload")
    out.print(f"{cluster}: {status['phase']}")


@app.command("status")
@user_errors
def status_cmd(cluster: Optional[str] = typer.Argument(None), as_json: bool = typer.Option(False, "--json"),
               watch: bool = typer.Option(False, "--watch", "-w", help="follow live events until Ctrl-C"),
               server: Optional[str] = SERVER_OPT) -> None:
    """Each cluster's phase and each rank's node, phase, progress and last error."""
    c = _client(server)
    if watch:
        from .watch import watch_status

        watch_status(c, cluster, out)
        return
    statuses = [c.request("GET", f"/admin/{cluster}")] if cluster else c.request("GET", "/admin/clusters")["clusters"]
    if as_json:
        typer.echo(json.dumps(statuses if not cluster else statuses[0], indent=2))
        return
    for s in statuses:
        out.print(_render_status(s))


@app.command("reboot")
@user_errors
def reboot_cmd(cluster: str = typer.Argument(...),
               nodes: Optional[list[str]] = typer.Option(None, "--nodes", help="only these nodes (repeatable)"),
               yes: bool = typer.Option(False, "--yes", "-y", help="do not ask"),
               server: Optional[str] = SERVER_OPT) -> None:
    """Reboot a cluster's nodes (resets JACCL's RDMA state), wait for SSH, reload the model."""
    which = ", ".join(nodes) if nodes else "every node"
    if not confirm(f"reboot {which} of {cluster}?", yes=yes, what=f"reboot {cluster}"):
        err.print("nothing rebooted")
        raise typer.Exit(1)
    c = _client(server)
    c.http.timeout = 1800
    body = {"nodes": nodes} if nodes else {}
    out.print(f"rebooting {which} of {cluster} (this takes as long as the nodes take to come back) ...")
    result = c.request("POST", f"/admin/{cluster}/reboot", json=body)
    report = result.get("reboot") or {}
    for n in report.get("nodes", []):
        line = f"  {n['node']}: " + (f"down after {n['down_s']}s, back after {n['back_s']}s" if n.get("ok")
                                     else f"[red]{n.get('error')}[/]")
        out.print(line, highlight=False)
    if report.get("reload_s") is not None:
        out.print(f"  reloaded {result.get('model')} in {report['reload_s']}s", highlight=False)
    if not report.get("ok"):
        for p in report.get("problems", []):
            err.print(f"[red]{p}[/]", highlight=False)
        raise typer.Exit(1)
    out.print(f"[green]{cluster}: {result['phase']}[/] ({report.get('total_s')}s in all)")


@app.command("logs")
@user_errors
def logs_cmd(cluster: str = typer.Argument(...), follow: bool = typer.Option(False, "--follow", "-f"),
             rank: Optional[int] = typer.Option(None, "--rank", min=0, help="one rank only"),
             last: int = typer.Option(200, help="lines of history to show first"),
             server: Optional[str] = SERVER_OPT) -> None:
    """The ranks' output (their stderr), optionally followed live."""
    from .watch import show_logs

    show_logs(_client(server), cluster, rank=rank, last=last, follow=follow, console=out)


@app.command("demo")
@user_errors
def demo_cmd(ranks: int = typer.Option(2, min=1, max=8, help="local ranks joined by ring over loopback"),
             model: str = typer.Option("smollm2-135m", help="model under $ODYSSAI_HOME/models (pulled if known)"),
             once: bool = typer.Option(False, "--once", help="exit after the sample answer"),
             question: str = typer.Option("What is the capital of France?", help="the sample chat"),
             port: Optional[int] = typer.Option(None, help="port (default 8000)")) -> None:
    """A cluster on this machine serving the default model: pull, load, serve, answer one chat."""
    import asyncio

    from .demo import run_demo

    s = settings()
    if port is not None:
        s = s.model_copy(update={"port": port})
    try:
        asyncio.run(run_demo(s, plugin_manager(), ranks=ranks, model=model, once=once, question=question,
                             console=out))
    except KeyboardInterrupt:
        out.print("stopped")


def _mount_core_subapps() -> None:
    from .cli_cluster import cluster_app, doctor_command
    from .models.cli import models_app

    app.add_typer(cluster_app, name="cluster")
    app.command("doctor")(doctor_command)
    app.add_typer(models_app, name="models")


def extend_cli(pm: Any, root: typer.Typer) -> list[str]:
    """Let every plugin add its commands (``pm.extend_cli``); returns a warning per plugin that failed.

    A plugin whose ``odyssai_cli`` raises is recorded in ``pm.failures`` (``odyssai plugins``
    lists it) and named with its distribution in a one-line warning on stderr; every other
    command still works.
    """
    before = len(pm.failures)
    pm.extend_cli(root)
    warnings = []
    for f in pm.failures[before:]:
        who = f.distribution if f.distribution == f.name else f"{f.name} ({f.distribution})"
        warnings.append(f"plugin {who} could not add its commands: {f.error}")
    for w in warnings:
        err.print(f"[yellow]warning:[/] {escape(w)}", highlight=False, soft_wrap=True)
    return warnings


def build_app() -> typer.Typer:
    """The root app with core's sub-apps and every plugin's commands."""
    if not getattr(build_app, "_done", False):
        _mount_core_subapps()
        extend_cli(plugin_manager(), app)
        build_app._done = True  # type: ignore[attr-defined]
    return app


def setup_logging(level: str = "info") -> None:
    """Log lines on stderr: ours at the configured level, chatty libraries at warning."""
    import logging

    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "httpcore", "asyncssh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    try:
        setup_logging(settings().log_level)
        build_app()
    except OdyssaiError as e:
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(e.exit_code)
    app(args=argv)


if __name__ == "__main__":
    main()
