"""``odyssai node-setup network`` for macOS: what it changes, as plain data.

A new Mac joins its Thunderbolt ports into ``bridge0`` (the "Thunderbolt Bridge" service),
which leaves the ports without their own IPv6 link-local (fe80) addresses. JACCL and the
wiring probe need one fe80 per port. The plan:

1. create a network location ``odyssai``, if there is none yet;
2. switch to it. ``networksetup`` edits only the current location, so the switch comes before
   the services. From here until the Ethernet service exists again the Mac has no network,
   which is why this runs only at the console;
3. on the first run only, recreate the services of the other hardware ports (Ethernet, Wi-Fi,
   ...). A manual IPv4 address and the DNS servers of the old location are carried over;
   everything else starts from macOS's defaults (DHCP);
4. one service per Thunderbolt port (``odyssai Thunderbolt 1``, ...) with IPv4 by DHCP (it
   falls back to a self-assigned 169.254 address) and IPv6 link-local only. There is no
   Thunderbolt Bridge service in this location;
5. take ``bridge0`` apart if it exists;
6. a root LaunchDaemon runs the same script at every boot, so the setup is re-asserted
   (guarded steps make it idempotent).

Everything here is pure: the plan is a list of ``Step``, rendered as one bash script; the
LaunchDaemon is a plistlib dict. ``apply`` (in cli.py) writes and runs them. **Not run on a
real Mac**: written from networksetup(8), ifconfig(8) and launchd.plist(5).
"""

from __future__ import annotations

import plistlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from odyssai.errors import Conflict

from .parsers import HardwarePort

LOCATION = "odyssai"
LABEL = "ai.odyssai.network"
SCRIPT_PATH = "/Library/Application Support/odyssai/network-setup.sh"
PLIST_PATH = f"/Library/LaunchDaemons/{LABEL}.plist"
LOG_PATH = f"/var/log/{LABEL}.log"
TB_SERVICE_PREFIX = "odyssai "

#: the shell condition that is true during the script's first run (set in its header)
FIRST_RUN = '[ "$first_run" = 1 ]'


@dataclass(frozen=True)
class Step:
    """One change. ``argv`` is quoted when rendered; ``shell`` is fixed shell code (no input).

    ``when`` is a shell condition: the step runs only when it holds.
    """

    why: str
    argv: tuple[str, ...] = ()
    shell: str = ""
    when: str | None = None

    def command(self) -> str:
        return shlex.join(self.argv) if self.argv else self.shell


@dataclass(frozen=True)
class ServiceConfig:
    """What is carried over from a service of the current location."""

    manual_ipv4: tuple[str, str, str | None] | None = None  # ip, subnet mask, router
    dns: tuple[str, ...] = ()


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)

    def script(self) -> str:
        return render_script(self.steps)


def _q(text: str) -> str:
    return shlex.quote(text)


def _lacks_service(name: str) -> str:
    """A shell condition: the current location has no service ``name`` (disabled ones count)."""
    # grep without -q reads all its input: no SIGPIPE for networksetup under pipefail
    return f"! networksetup -listallnetworkservices | sed 's/^\\*//' | grep -xF {_q(name)} >/dev/null"


def tb_service_name(port: HardwarePort) -> str:
    return TB_SERVICE_PREFIX + port.name


def network_plan(ports: list[HardwarePort], current: Mapping[str, ServiceConfig] | None = None,
                 location: str = LOCATION) -> Plan:
    """The steps that give each Thunderbolt port of ``ports`` its own fe80, without bridge0.

    :param ports: ``parse_hardware_ports`` of ``networksetup -listallhardwareports``.
    :param current: per hardware port name, what to carry over from the current location.
    """
    current = current or {}
    tb = [p for p in ports if p.is_thunderbolt_port]
    others = [p for p in ports if not p.name.startswith("Thunderbolt")
              and not p.name.startswith("Ethernet Adapter")  # placeholder adapters macOS lists
              and not p.device.startswith(("bridge", "vlan", "bond"))]
    steps = [
        Step(f"create the network location {location!r}",
             ("networksetup", "-createlocation", location), when=FIRST_RUN),
        Step("switch to it (networksetup edits only the current location; the network drops until "
             "the services below exist)",
             ("networksetup", "-switchtolocation", location),
             when=f'[ "$(networksetup -getcurrentlocation)" != {_q(location)} ]'),
    ]
    for p in others:
        steps.append(Step(f"recreate the {p.name} service ({p.device})",
                          ("networksetup", "-createnetworkservice", p.name, p.name),
                          when=f"{FIRST_RUN} && {_lacks_service(p.name)}"))
        cfg = current.get(p.name, ServiceConfig())
        if cfg.manual_ipv4 and cfg.manual_ipv4[2]:
            steps.append(Step(f"keep its manual IPv4 address {cfg.manual_ipv4[0]}",
                              ("networksetup", "-setmanual", p.name, *cfg.manual_ipv4), when=FIRST_RUN))
        elif cfg.manual_ipv4:
            warning = (f"warning: {p.name} had the manual address {cfg.manual_ipv4[0]} without a router; "
                       "set it again in System Settings")
            steps.append(Step("say what could not be carried over", ("echo", warning), when=FIRST_RUN))
        if cfg.dns:
            steps.append(Step("keep its DNS servers",
                              ("networksetup", "-setdnsservers", p.name, *cfg.dns), when=FIRST_RUN))
    for p in tb:
        service = tb_service_name(p)
        steps += [
            Step(f"a service of its own for {p.name} ({p.device}), outside any bridge",
                 ("networksetup", "-createnetworkservice", service, p.name), when=_lacks_service(service)),
            Step("IPv4 by DHCP (self-assigned 169.254 on a bare cable)",
                 ("networksetup", "-setdhcp", service), when=FIRST_RUN),
            Step("IPv6 link-local only: the fe80 address JACCL and the probe need",
                 ("networksetup", "-setv6LinkLocal", service)),
        ]
    steps.append(Step(
        "take bridge0 (Thunderbolt Bridge) apart: its members get no fe80 of their own",
        shell=("for m in $(ifconfig bridge0 | awk '/member:/ {print $2}'); do ifconfig bridge0 deletem \"$m\"; "
               "done; ifconfig bridge0 destroy"),
        when="ifconfig bridge0 >/dev/null 2>&1"))
    return Plan(steps)


def render_script(steps: list[Step], location: str = LOCATION) -> str:
    """The plan as a bash script: what runs at the console, and at every boot."""
    lines = [
        "#!/bin/bash",
        "# odyssai node-setup network: one IPv6 link-local (fe80) address per Thunderbolt port.",
        f"# Installed as {_q(SCRIPT_PATH)}; run at every boot by the LaunchDaemon {LABEL}.",
        "set -euo pipefail",
        "first_run=0",
        f"networksetup -listlocations | grep -xF {_q(location)} >/dev/null || first_run=1",
        "",
    ]
    for s in steps:
        lines.append(f"# {s.why}")
        if s.when:
            lines += [f"if {s.when}; then", f"  {s.command()}", "fi"]
        else:
            lines.append(s.command())
    return "\n".join(lines) + "\n"


def launch_daemon(script_path: str = SCRIPT_PATH, label: str = LABEL) -> dict:
    """The root LaunchDaemon that re-runs the script at every boot."""
    return {
        "Label": label,
        "ProgramArguments": ["/bin/bash", script_path],
        "RunAtLoad": True,
        "StandardOutPath": LOG_PATH,
        "StandardErrorPath": LOG_PATH,
    }


def launch_daemon_xml(script_path: str = SCRIPT_PATH, label: str = LABEL) -> str:
    return plistlib.dumps(launch_daemon(script_path, label), fmt=plistlib.FMT_XML).decode()


def install_commands(label: str = LABEL, plist_path: str = PLIST_PATH) -> list[list[str]]:
    """After the files are written: (re)load the daemon into launchd's system domain."""
    return [["launchctl", "bootout", f"system/{label}"],  # fails harmlessly when not loaded
            ["launchctl", "bootstrap", "system", plist_path]]


def undo_commands(label: str = LABEL, plist_path: str = PLIST_PATH, script_path: str = SCRIPT_PATH) -> list[list[str]]:
    """How to go back to the default location (run as root, at the console too)."""
    return [["launchctl", "bootout", f"system/{label}"], ["rm", "-f", plist_path, script_path],
            ["networksetup", "-switchtolocation", "Automatic"],
            ["networksetup", "-deletelocation", LOCATION]]


# --- reading the current location ----------------------------------------------------------

_ORDER_RE = re.compile(r"^\((?:\d+|\*)\)\s+\*?(?P<service>.+)$")
_HW_RE = re.compile(r"^\(Hardware Port: (?P<port>[^,]+), Device: (?P<device>[^)]*)\)$")


def parse_service_order(text: str) -> dict[str, str]:
    """``networksetup -listnetworkserviceorder``: hardware port name -> its service's name."""
    out: dict[str, str] = {}
    service = None
    for line in text.splitlines():
        line = line.strip()
        m = _ORDER_RE.match(line)
        if m:
            service = m.group("service").strip()
            continue
        m = _HW_RE.match(line)
        if m and service:
            out.setdefault(m.group("port").strip(), service)
            service = None
    return out


def parse_getinfo(text: str) -> tuple[str, str, str | None] | None:
    """``networksetup -getinfo <service>``: (ip, mask, router or None) for a manual configuration."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "Manual Configuration":
        return None
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    ip, mask = fields.get("IP address", "").strip(), fields.get("Subnet mask", "").strip()
    router = fields.get("Router", "").strip()
    if not ip or not mask:
        return None
    return ip, mask, router if router and router != "(null)" else None


def parse_dnsservers(text: str) -> tuple[str, ...]:
    """``networksetup -getdnsservers <service>``: the servers, or () for "There aren't any..."."""
    if "aren't any" in text:
        return ()
    return tuple(w for w in text.split() if re.fullmatch(r"[0-9A-Fa-f:.]+", w))


# --- where it may run ----------------------------------------------------------------------

def over_ssh(environ: Mapping[str, str], who_am_i: str | None = None) -> str | None:
    """Why this session looks remote, or None. ``who_am_i`` is the output of ``who am i``.

    ``sudo`` may drop ``SSH_CONNECTION``, so ``who am i`` (which prints the remote host in
    parentheses for an SSH login) is a second witness.
    """
    for var in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"):
        if environ.get(var):
            return f"{var} is set"
    if who_am_i:
        m = re.search(r"\(([^)]*)\)\s*$", who_am_i.strip())
        if m and m.group(1) and not m.group(1).startswith(":"):
            return f"this terminal is logged in from {m.group(1)}"
    return None


def refuse_over_ssh(environ: Mapping[str, str], who_am_i: str | None = None) -> None:
    """Raise ``Conflict`` when running over SSH: a half-applied switch can strand the Mac."""
    reason = over_ssh(environ, who_am_i)
    if reason:
        raise Conflict(
            f"node-setup network refuses to run over SSH ({reason}): switching the network location "
            "drops every connection, and a switch cut off halfway can leave the Mac unreachable",
            hint="run it at the Mac's own keyboard and screen; `--dry-run` is fine over SSH")
