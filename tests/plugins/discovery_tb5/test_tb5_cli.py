"""``odyssai node-setup network [--dry-run]`` as a Typer sub-app (never touches this machine)."""

from __future__ import annotations

import subprocess

import pytest
import typer
from typer.testing import CliRunner

from odyssai.errors import ConfigError, Conflict
from odyssai_discovery_tb5 import cli, onboarding as ob
from odyssai_discovery_tb5 import plugin

import tb5_samples as s


def root_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """odyssai"""

    plugin.odyssai_cli(app)
    return app


def test_the_plugin_adds_node_setup_network_to_the_cli_and_dry_run_prints_the_plan(monkeypatch):
    monkeypatch.setattr(cli.platform, "system", lambda: "Linux")
    result = CliRunner().invoke(root_app(), ["node-setup", "network", "--dry-run"])
    assert result.exit_code == 0 and "networksetup -createlocation odyssai" in result.output
    assert "<key>RunAtLoad</key>" in result.output


def test_on_linux_without_dry_run_it_says_it_runs_only_on_macos_and_changes_nothing(monkeypatch):
    monkeypatch.setattr(cli.platform, "system", lambda: "Linux")
    result = CliRunner().invoke(root_app(), ["node-setup", "network"])
    assert result.exit_code == ConfigError.exit_code and "runs only on macOS" in result.output


def test_a_dry_run_away_from_a_mac_says_its_plan_is_an_example():
    lines: list[str] = []
    cli.network_command(True, None, system="Linux", environ={}, echo=lines.append)
    assert "an example plan" in lines[0]


def test_a_dry_run_can_plan_for_the_ports_of_another_mac(tmp_path):
    ports = tmp_path / "ports.txt"
    ports.write_text(s.NETWORKSETUP_HARDWARE_PORTS)
    lines: list[str] = []
    cli.network_command(True, ports, system="Linux", environ={}, echo=lines.append)
    assert "'odyssai Thunderbolt 3'" in lines[0] and "Thunderbolt 6" not in lines[0]


CONSOLE = "admin    console  Dec  4 03:20 \n"
SSH_LOGIN = "admin    ttys001  Dec  4 03:21 (10.0.0.5)\n"


class FakeMac:
    """Answers the read-only queries like a Mac would; records every command it is given."""

    def __init__(self, who: str = CONSOLE):
        self.read_only = {
            ("networksetup", "-listallhardwareports"): s.NETWORKSETUP_HARDWARE_PORTS,
            ("networksetup", "-listnetworkserviceorder"): "(1) Ethernet\n(Hardware Port: Ethernet, Device: en0)\n",
            ("networksetup", "-getinfo", "Ethernet"): "DHCP Configuration\n",
            ("networksetup", "-getdnsservers", "Ethernet"): "There aren't any DNS Servers set on Ethernet.\n",
            ("who", "am", "i"): who}
        self.calls: list[list[str]] = []

    def __call__(self, argv, **kw):
        self.calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, self.read_only.get(tuple(argv), ""), "")

    @property
    def changes(self) -> list[list[str]]:
        return [c for c in self.calls if tuple(c) not in self.read_only]


def test_over_ssh_on_a_mac_it_refuses_before_changing_anything():
    mac = FakeMac()
    with pytest.raises(Conflict, match="over SSH"):
        cli.network_command(False, None, system="Darwin", environ={"SSH_CONNECTION": "10.0.0.5 1 10.0.0.11 22"},
                            run=mac, euid=0)
    assert mac.changes == []


def test_an_ssh_login_whose_variables_sudo_dropped_is_refused_too():
    mac = FakeMac(who=SSH_LOGIN)
    with pytest.raises(Conflict, match="logged in from 10.0.0.5"):
        cli.network_command(False, None, system="Darwin", environ={}, run=mac, euid=0)
    assert mac.changes == []


def test_on_a_mac_it_must_run_as_root():
    with pytest.raises(ConfigError, match="as root"):
        cli.network_command(False, None, system="Darwin", environ={}, run=FakeMac(), euid=501,
                            echo=lambda _: None)


def test_applying_writes_the_script_runs_it_then_installs_the_launch_daemon():
    written: dict[str, tuple[str, int]] = {}
    mac = FakeMac()
    cli.apply(ob.network_plan(cli.parse_hardware_ports(s.NETWORKSETUP_HARDWARE_PORTS)), run=mac,
              write=lambda path, text, mode: written.__setitem__(path, (text, mode)))
    assert written[ob.SCRIPT_PATH][1] == 0o755 and "setv6LinkLocal" in written[ob.SCRIPT_PATH][0]
    assert mac.calls == [["/bin/bash", ob.SCRIPT_PATH], *ob.install_commands()]


def test_a_failing_script_leaves_the_launch_daemon_uninstalled():
    written: list[str] = []

    def run(argv, **kw):
        return subprocess.CompletedProcess(argv, 1 if argv[0] == "/bin/bash" else 0, "", "")

    with pytest.raises(ConfigError, match="stopped with exit 1"):
        cli.apply(ob.network_plan(cli.parse_hardware_ports(s.NETWORKSETUP_HARDWARE_PORTS)), run=run,
                  write=lambda path, text, mode: written.append(path))
    assert written == [ob.SCRIPT_PATH]


def test_the_current_ethernet_service_is_read_to_carry_its_settings_over():
    ports, current = cli.read_current(FakeMac())
    assert current == {"Ethernet": ob.ServiceConfig(None, ())} and len(ports) == 6


def test_every_command_the_dry_run_prints_can_be_pasted_into_a_shell_as_is():
    import shlex

    text = cli.render_dry_run(ob.network_plan(cli.parse_hardware_ports(s.NETWORKSETUP_HARDWARE_PORTS)))
    after_plist = text.split("# 3. then loaded:\n", 1)[1]
    loaded, undo = after_plist.split("# to undo, as root at the console:\n")
    assert [shlex.split(line) for line in loaded.strip().splitlines()] == ob.install_commands()
    assert [shlex.split(line) for line in undo.strip().splitlines()] == ob.undo_commands()
    assert f"rm -f {ob.PLIST_PATH} '/Library/Application Support/odyssai/network-setup.sh'" in undo
    assert "# 1. written to '/Library/Application Support/odyssai/network-setup.sh' and run now:" in text
