"""``odyssai testbed up|down|status|cable (pull|plug|move|one-sided)|reboot|fresh``: a cluster without Macs, by hand.

``up`` makes a testbed that outlives the command (its state is in ``STATE/testbed.json``,
default ``$ODYSSAI_HOME/testbed/<name>``) and writes it into the topology file as cluster
``testbed`` (``--cluster``; never over a cluster that is not its own); the other commands find it
again by ``--name`` (default ``testbed``, and then only one made from this ``ODYSSAI_HOME``).
``down --all`` removes this home's testbeds and crash leftovers, and names the others.
Errors are one line and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from odyssai.errors import OdyssaiError

from . import plan, registry
from .errors import TestbedError
from .state import STATE_FILE
from odyssai.cli_errors import user_errors

from .testbed import DEFAULT_NAME, Testbed

testbed_app = typer.Typer(
    help="A cluster without Macs: network namespaces with an sshd each and Thunderbolt-like cables "
         "(Linux, root).", no_args_is_help=True)
cable_app = typer.Typer(help="Pull, plug, move or make one-sided a Thunderbolt cable between two nodes.",
                        no_args_is_help=True)
testbed_app.add_typer(cable_app, name="cable")

NAME = typer.Option(None, "--name", "-n", show_default=False,
                    help=f"which testbed (default: {DEFAULT_NAME!r}, if made from this ODYSSAI_HOME)")


@testbed_app.command("up")
@user_errors
def up(nodes: int = typer.Option(3, "--nodes", min=1, max=plan.MAX_NODES, help="how many nodes"),
       name: str = typer.Option(DEFAULT_NAME, "--name", "-n", help="the testbed's name"),
       cable: Optional[List[str]] = typer.Option(
           None, "--cable", help="NODE_A,NODE_B or NODE_A:en2,NODE_B:en3 (repeat it); default: full mesh"),
       no_cables: bool = typer.Option(False, "--no-cables", help="no Thunderbolt cables at all"),
       state_dir: Optional[Path] = typer.Option(None, help="default: $ODYSSAI_HOME/testbed/<name>"),
       topology: Optional[Path] = typer.Option(None, help="topology file to write (default: the configured one)"),
       no_topology: bool = typer.Option(False, "--no-topology", help="do not write the topology"),
       cluster: str = typer.Option("testbed", "--cluster",
                                   help="cluster name in the topology (an existing one must be this testbed's)"),
       backend: str = typer.Option("ring", help="the cluster's backend (an installed transport)"),
       python: Optional[str] = typer.Option(None, help="python on the nodes (default: this one)")) -> None:
    """Build a testbed that stays up until 'odyssai testbed down'."""
    cables = [] if no_cables else ([plan.parse_cable_arg(c) for c in cable] if cable else None)
    tb = Testbed(nodes, cables, name=name, state_dir=state_dir)
    if not no_topology:  # what would make the topology unwritable is refused before anything is built
        from odyssai.plugins import get_plugin_manager
        from odyssai.settings import load_settings

        get_plugin_manager().transport(backend)
        topology = tb.check_topology(topology or load_settings().topology_path, cluster)
    tb.up(persistent=True)
    try:
        written = None
        if topology is not None and not no_topology:
            written = tb.write_topology(topology, cluster, python=python, backend=backend)
    except BaseException:
        tb.down()
        raise
    _print_status(tb)
    if written:
        typer.echo(f"topology: cluster {cluster!r} written to {written} (removed again by 'down')")


@testbed_app.command("down")
@user_errors
def down(name: Optional[str] = NAME,
         all_: bool = typer.Option(False, "--all", help="every testbed made from this ODYSSAI_HOME, and the "
                                   "leftovers of crashed runs (others are named, not removed)")) -> None:
    """Tear a testbed down: processes, sshd, namespaces, cables, bridge, its topology cluster."""
    if all_:
        from .teardown import cleanup_leftovers
        from .testbed import current_home

        home = current_home()
        removed = cleanup_leftovers(home=home)
        typer.echo(f"removed {len(removed)} testbed(s)" + (f": {', '.join(removed)}" if removed else ""))
        for e in registry.entries():
            whose = (f"in use by process {e.owner_pid}" if e.in_use()
                     else f"made from ODYSSAI_HOME {e.home or '(unknown)'}")
            typer.echo(f"left testbed {e.name!r} up ({whose}); remove it with: odyssai testbed down --name {e.name}")
        return
    try:
        tb = Testbed.open(name, stale_ok=True)
    except TestbedError:
        entry = registry.find(name=name) if name else None
        if entry is None:
            raise
        from .teardown import teardown  # a broken state file: its registry entry is enough

        teardown(entry.id, entry.state_dir or None)
        typer.echo(f"testbed {name!r} is down")
        return
    tb.down()
    typer.echo(f"testbed {tb.name!r} is down")


@testbed_app.command("status")
@user_errors
def status(name: Optional[str] = typer.Option(None, "--name", "-n", help="one testbed (default: all)"),
           as_json: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Show testbeds: nodes, addresses, sshd, fresh nodes, and the state of every cable."""
    if name:
        described = [describe(Testbed.open(name))]
    else:
        described = []
        for e in registry.entries():
            if e.state_dir and e.live:
                try:
                    tb = Testbed.open(state_dir=e.state_dir)
                    described.append(describe(tb))
                except Exception as err:  # one broken testbed must not hide the others
                    if not (Path(e.state_dir) / STATE_FILE).exists():
                        continue  # still being built, or being torn down
                    why = str(err) if isinstance(err, OdyssaiError) else f"{type(err).__name__}: {err}"
                    described.append({"name": e.name, "id": e.id, "state_dir": e.state_dir,
                                      "broken": (why.splitlines() or [""])[0]})
    if as_json:
        typer.echo(json.dumps({"testbeds": described}, indent=2))
        return
    if not described:
        typer.echo("no testbed is up (start one: odyssai testbed up)")
    for d in described:
        _print_described(d)


@cable_app.command("pull")
@user_errors
def cable_pull(node_a: str, node_b: str, name: Optional[str] = NAME,
               end: Optional[str] = typer.Option(None, help="pull only the end on this node")) -> None:
    """Pull the cable between NODE_A and NODE_B out (its link goes down)."""
    tb = Testbed.open(name)
    tb.pull((node_a, node_b), end=end)
    typer.echo(f"pulled {tb.cable(node_a, node_b)}" + (f" ({end} end)" if end else ""))


@cable_app.command("plug")
@user_errors
def cable_plug(node_a: str, node_b: str, name: Optional[str] = NAME,
               end: Optional[str] = typer.Option(None, help="plug only the end on this node")) -> None:
    """Plug the cable between NODE_A and NODE_B back in."""
    tb = Testbed.open(name)
    tb.plug((node_a, node_b), end=end)
    typer.echo(f"plugged {tb.cable(node_a, node_b)}" + (f" ({end} end)" if end else ""))


@cable_app.command("move")
@user_errors
def cable_move(node_a: str, node_b: str, name: Optional[str] = NAME,
               end: str = typer.Option(..., "--end", help="move the end on this node (NODE_A or NODE_B)"),
               port: Optional[str] = typer.Option(None, "--port", help="to this port (default: the first free one)"),
               to: Optional[str] = typer.Option(None, "--to", help="to this node (default: the same node)")) -> None:
    """Move one end of the cable between NODE_A and NODE_B to another port (of the same node or --to another)."""
    tb = Testbed.open(name)
    old = tb.cable(node_a, node_b)
    new = tb.move(old, end=end, port=port, node=to)
    typer.echo(f"moved {old} to {new}")


@cable_app.command("one-sided")
@user_errors
def cable_one_sided(node_a: str, node_b: str, name: Optional[str] = NAME,
                    deaf: Optional[str] = typer.Option(None, "--deaf", help="the end that stops seeing its peer"),
                    undo: bool = typer.Option(False, "--undo", help="both ends see each other again")) -> None:
    """Make the cable between NODE_A and NODE_B seen from one end only (--deaf NODE: the end that does not see)."""
    tb = Testbed.open(name)
    cable = tb.cable(node_a, node_b)
    if undo:
        tb.two_sided(cable)
        typer.echo(f"{cable} is seen from both ends again")
        return
    if deaf is None:
        raise TestbedError("say which end stops seeing its peer: --deaf NODE (or --undo)")
    tb.one_sided(cable, deaf_end=deaf)
    typer.echo(f"{cable} is one-sided: the {deaf} end no longer sees its peer (undo: --undo)")


@testbed_app.command("reboot")
@user_errors
def reboot_cmd(node: str, name: Optional[str] = NAME,
               delay: float = typer.Option(1.0, min=0, help="seconds until its sshd is back"),
               wait: bool = typer.Option(True, help="wait until its sshd answers again")) -> None:
    """Reboot a node: kill everything running in it; its sshd comes back after --delay."""
    tb = Testbed.open(name)
    tb.reboot(node, delay=delay)
    if wait:
        tb.wait_ssh(node, timeout=delay + 15)
        typer.echo(f"{node} rebooted; its sshd answers")
    else:
        typer.echo(f"{node} is rebooting; its sshd is back in about {delay:g}s")


@testbed_app.command("fresh")
@user_errors
def fresh(node: str, name: Optional[str] = NAME,
          undo: bool = typer.Option(False, "--undo", help="onboard it again (fe80 back on its ports)")) -> None:
    """Make a node fresh: no fe80 on its Thunderbolt ports, like a new Mac on bridge0."""
    tb = Testbed.open(name)
    if undo:
        tb.make_onboarded(node)
        typer.echo(f"{node} is onboarded: its Thunderbolt ports have fe80 addresses")
    else:
        tb.make_fresh(node)
        typer.echo(f"{node} is fresh: no fe80 on its Thunderbolt ports")


def describe(tb: Testbed) -> dict[str, Any]:
    """A testbed's live state as plain data (what ``status --json`` prints)."""
    r = tb.record
    nodes = [{"name": n, "ip": tb.node_ip(n), "namespace": tb.namespace(n), "sshd": tb.ssh_answers(n),
              "processes": len(tb.pids(n)), "fresh": tb.is_fresh(n),
              "ports": {p: tb.link_local(n, p) for p in tb.ports(n)}} for n in tb.node_names]
    cables = [{**c.to_dict(), "up_a": tb.is_plugged(c.node_a, c.port_a), "up_b": tb.is_plugged(c.node_b, c.port_b),
               "deaf_a": tb.is_deaf(c.node_a, c.port_a), "deaf_b": tb.is_deaf(c.node_b, c.port_b)}
              for c in tb.cables]
    return {"name": r.name, "id": r.id, "subnet": r.subnet, "orchestrator_ip": tb.root_ip,
            "state_dir": str(r.state_dir), "persistent": r.persistent, "nodes": nodes, "cables": cables,
            "topologies": r.topologies}


def _print_status(tb: Testbed) -> None:
    _print_described(describe(tb))


def _print_described(d: dict[str, Any]) -> None:
    if "broken" in d:
        typer.echo(f"testbed {d['name']!r}: id {d['id']}, BROKEN: {d['broken']} "
                   f"(remove it: odyssai testbed down --name {d['name']})")
        return
    typer.echo(f"testbed {d['name']!r}: id {d['id']}, {d['subnet']} (orchestrator {d['orchestrator_ip']}), "
               f"state {d['state_dir']}")
    for n in d["nodes"]:
        count = n["processes"]
        flags = ["sshd answers" if n["sshd"] else "sshd DOWN", f"{count} process{'' if count == 1 else 'es'}"]
        if n["fresh"]:
            flags.append("fresh (no fe80)")
        ports = " ".join(n["ports"]) or "no cables"
        typer.echo(f"  {n['name']:<8} {n['ip']:<15} {', '.join(flags)}; ports: {ports}")
    for c in d["cables"]:
        ends = {True: "plugged", False: "pulled"}
        state = ends[True] if c["up_a"] and c["up_b"] else (
            f"{c['node_a']} end {ends[c['up_a']]}, {c['node_b']} end {ends[c['up_b']]}")
        deaf = [c[f"node_{e}"] for e in "ab" if c.get(f"deaf_{e}")]
        if deaf:
            state += f"; one-sided: the {' and '.join(deaf)} end does not see its peer"
        typer.echo(f"  cable {c['node_a']}:{c['port_a']} <-> {c['node_b']}:{c['port_b']}  {state}")
