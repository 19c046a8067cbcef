"""``odyssai node-setup network [--dry-run]``: onboard this Mac's Thunderbolt ports.

Runs on the node itself, at its console, as root. On anything but macOS it only prints an
example plan (``--dry-run``). The plan and the LaunchDaemon come from ``onboarding``; this module
reads the current state (read-only commands), prints, refuses, or applies.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import typer
from odyssai.errors import ConfigError, OdyssaiError

from . import onboarding as ob
from .parsers import parse_hardware_ports

app = typer.Typer(name="node-setup", no_args_is_help=True,
                  help="Prepare this node for odyssai (run it on the node, at its console).")

#: a Mac Studio with six Thunderbolt 5 ports, for --dry-run away from a Mac
EXAMPLE_HARDWARE_PORTS = """
Hardware Port: Ethernet
Device: en0
Ethernet Address: 1c:1d:d3:e0:11:22

Hardware Port: Wi-Fi
Device: en1
Ethernet Address: 1c:1d:d3:e0:11:23

Hardware Port: Thunderbolt Bridge
Device: bridge0
Ethernet Address: 36:9a:12:34:56:00
""" + "".join(f"""
Hardware Port: Thunderbolt {i}
Device: en{i + 1}
Ethernet Address: 36:9a:12:34:56:0{i}
""" for i in range(1, 7))

Run = Callable[..., subprocess.CompletedProcess]


def _read(run: Run, argv: list[str]) -> str:
    r = run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise ConfigError(f"`{shlex.join(argv)}` failed: {(r.stderr or r.stdout).strip() or r.returncode}")
    return r.stdout


def read_current(run: Run = subprocess.run) -> tuple[list, dict[str, ob.ServiceConfig]]:
    """This Mac's hardware ports and, per hardware port, what its service has to carry over."""
    ports = parse_hardware_ports(_read(run, ["networksetup", "-listallhardwareports"]))
    services = ob.parse_service_order(_read(run, ["networksetup", "-listnetworkserviceorder"]))
    current = {}
    for port in ports:
        service = services.get(port.name)
        if service is None or port.name.startswith("Thunderbolt"):
            continue
        manual = ob.parse_getinfo(_read(run, ["networksetup", "-getinfo", service]))
        dns = ob.parse_dnsservers(_read(run, ["networksetup", "-getdnsservers", service]))
        current[port.name] = ob.ServiceConfig(manual, dns)
    return ports, current


def render_dry_run(plan: ob.Plan, note: str = "") -> str:
    """The plan as text; every command line in it is quoted, so it can be pasted into a shell."""
    out = [f"# {note}" if note else "# the plan for this Mac (--dry-run: nothing was changed)",
           f"# 1. written to {shlex.quote(ob.SCRIPT_PATH)} and run now:", plan.script(),
           f"# 2. written to {shlex.quote(ob.PLIST_PATH)} (root LaunchDaemon: runs the script at every boot):",
           ob.launch_daemon_xml(), "# 3. then loaded:"]
    out += [shlex.join(c) for c in ob.install_commands()]
    out += ["", "# to undo, as root at the console:"] + [shlex.join(c) for c in ob.undo_commands()]
    return "\n".join(out) + "\n"


def write_root_file(path: str, text: str, mode: int) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    os.chmod(p, mode)


def apply(plan: ob.Plan, run: Run = subprocess.run,
          write: Callable[[str, str, int], None] = write_root_file) -> None:
    """Write the script, run it, install the LaunchDaemon. Stops at the first failure."""
    write(ob.SCRIPT_PATH, plan.script(), 0o755)
    r = run(["/bin/bash", ob.SCRIPT_PATH])
    if r.returncode != 0:
        raise ConfigError(f"the network setup stopped with exit {r.returncode}; the LaunchDaemon was "
                          "not installed", hint=f"read the messages above; the script is {shlex.quote(ob.SCRIPT_PATH)}")
    write(ob.PLIST_PATH, ob.launch_daemon_xml(), 0o644)
    bootout, bootstrap = ob.install_commands()
    run(bootout, capture_output=True)  # not loaded yet is fine
    r = run(bootstrap, capture_output=True, text=True)
    if r.returncode != 0:
        raise ConfigError(f"launchctl could not load {shlex.quote(ob.PLIST_PATH)}: {(r.stderr or '').strip()}",
                          hint="the network is set up for now; it will not be re-asserted at boot")


def _who_am_i(run: Run) -> str | None:
    try:
        return run(["who", "am", "i"], capture_output=True, text=True).stdout
    except OSError:
        return None


def network_command(dry_run: bool, ports_from: Path | None, *, system: str, environ: dict,
                    run: Run = subprocess.run, euid: int = 0, echo: Callable[[str], None] = typer.echo) -> None:
    """The command's logic, with its surroundings passed in."""
    if system != "Darwin" and not dry_run:
        raise ConfigError(f"node-setup network runs only on macOS (this is {system}); nothing was changed",
                          hint="`odyssai node-setup network --dry-run` prints an example plan")
    if ports_from is not None:
        ports, current = parse_hardware_ports(ports_from.read_text()), {}
        note = f"the plan for the ports in {ports_from}"
    elif system == "Darwin":
        (ports, current), note = read_current(run), ""
    else:
        ports, current = parse_hardware_ports(EXAMPLE_HARDWARE_PORTS), {}
        note = (f"an example plan for a Mac Studio with 6 Thunderbolt ports ({system} is not macOS); "
                "run it on the Mac for its own")
    if not any(p.is_thunderbolt_port for p in ports):
        raise ConfigError("this Mac lists no Thunderbolt ports (networksetup -listallhardwareports)")
    plan = ob.network_plan(ports, current)
    if dry_run:
        echo(render_dry_run(plan, note))
        return
    ob.refuse_over_ssh(environ, _who_am_i(run))
    if euid != 0:
        raise ConfigError("node-setup network changes the system network settings: run it as root",
                          hint="sudo odyssai node-setup network")
    apply(plan, run)
    echo(f"done: this Mac is on the {ob.LOCATION!r} location, each Thunderbolt port has its own fe80, "
         f"and {ob.LABEL} re-asserts it at every boot")


@app.command("network")
def network(
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan and the LaunchDaemon; change nothing"),
    ports_from: Path | None = typer.Option(
        None, "--ports-from", exists=True, dir_okay=False,
        help="plan for the `networksetup -listallhardwareports` output in this file"),
) -> None:
    """Give each Thunderbolt port its own IPv6 link-local address, for RDMA (macOS, at the console)."""
    try:
        network_command(dry_run, ports_from, system=platform.system(), environ=dict(os.environ),
                        euid=os.geteuid() if hasattr(os, "geteuid") else 0)
    except OdyssaiError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None

