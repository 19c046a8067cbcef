"""The macOS ``node-setup network`` plan, its LaunchDaemon, and the refusal over SSH.

Pure: nothing here runs networksetup. Not run on a real Mac; the command forms follow
networksetup(8) and launchd.plist(5). The `networksetup` outputs are written from its
documented formats, not captured.
"""

from __future__ import annotations

import plistlib
import subprocess

import pytest

from odyssai.errors import Conflict
from odyssai_discovery_tb5 import onboarding as ob
from odyssai_discovery_tb5.parsers import parse_hardware_ports

import tb5_samples as s

PORTS = parse_hardware_ports(s.NETWORKSETUP_HARDWARE_PORTS)


def commands(plan: ob.Plan) -> list[tuple[str, ...]]:
    return [step.argv for step in plan.steps if step.argv]


def test_the_plan_creates_the_odyssai_location_on_the_first_run_only():
    [step] = [st for st in ob.network_plan(PORTS).steps if st.argv[:2] == ("networksetup", "-createlocation")]
    assert step.argv == ("networksetup", "-createlocation", "odyssai") and step.when == ob.FIRST_RUN


def test_the_plan_switches_to_the_location_before_it_creates_any_service():
    argvs = commands(ob.network_plan(PORTS))
    switch = argvs.index(("networksetup", "-switchtolocation", "odyssai"))
    first_service = next(i for i, a in enumerate(argvs) if a[1] == "-createnetworkservice")
    assert switch < first_service


def test_each_thunderbolt_port_gets_its_own_service_with_ipv6_link_local():
    argvs = commands(ob.network_plan(PORTS))
    for n in (1, 2, 3):
        assert ("networksetup", "-createnetworkservice", f"odyssai Thunderbolt {n}", f"Thunderbolt {n}") in argvs
        assert ("networksetup", "-setv6LinkLocal", f"odyssai Thunderbolt {n}") in argvs


def test_the_location_has_no_thunderbolt_bridge_service():
    assert not any("Thunderbolt Bridge" in a for argv in commands(ob.network_plan(PORTS)) for a in argv)


def test_the_plan_takes_bridge0_apart_when_it_exists():
    [step] = [st for st in ob.network_plan(PORTS).steps if "bridge0 destroy" in st.shell]
    assert step.when == "ifconfig bridge0 >/dev/null 2>&1" and "deletem" in step.shell


def test_the_other_hardware_ports_get_their_services_back():
    argvs = commands(ob.network_plan(PORTS))
    assert ("networksetup", "-createnetworkservice", "Ethernet", "Ethernet") in argvs
    assert ("networksetup", "-createnetworkservice", "Wi-Fi", "Wi-Fi") in argvs


def test_a_manual_ethernet_address_and_its_dns_are_carried_over():
    current = {"Ethernet": ob.ServiceConfig(("10.0.0.11", "255.255.255.0", "10.0.0.1"), ("10.0.0.1",))}
    argvs = commands(ob.network_plan(PORTS, current))
    assert ("networksetup", "-setmanual", "Ethernet", "10.0.0.11", "255.255.255.0", "10.0.0.1") in argvs
    assert ("networksetup", "-setdnsservers", "Ethernet", "10.0.0.1") in argvs


def test_the_script_is_valid_bash_with_every_name_quoted():
    script = ob.network_plan(PORTS).script()
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    assert "networksetup -createnetworkservice 'odyssai Thunderbolt 1' 'Thunderbolt 1'" in script


def test_a_hardware_port_name_with_shell_characters_is_quoted_not_run():
    ports = parse_hardware_ports("Hardware Port: Thunderbolt 1\nDevice: en2\n\n"
                                 "Hardware Port: USB $(reboot)\nDevice: en9\n")
    assert "'USB $(reboot)'" in ob.network_plan(ports).script()


def test_the_script_stops_at_the_first_failing_command():
    assert "set -euo pipefail" in ob.network_plan(PORTS).script()


def test_the_launch_daemon_runs_the_script_as_root_at_every_boot():
    daemon = plistlib.loads(ob.launch_daemon_xml().encode())
    assert daemon["RunAtLoad"] is True and daemon["ProgramArguments"] == ["/bin/bash", ob.SCRIPT_PATH]
    assert daemon["Label"] == ob.LABEL and ob.PLIST_PATH.startswith("/Library/LaunchDaemons/")


def test_the_launch_daemon_is_loaded_into_the_system_domain():
    assert ob.install_commands()[-1] == ["launchctl", "bootstrap", "system", ob.PLIST_PATH]


def test_ssh_connection_in_the_environment_refuses_and_says_why():
    with pytest.raises(Conflict, match="refuses to run over SSH.*SSH_CONNECTION.*unreachable"):
        ob.refuse_over_ssh({"SSH_CONNECTION": "10.0.0.5 52144 10.0.0.11 22"})


def test_a_console_session_is_not_refused():
    ob.refuse_over_ssh({"TERM": "xterm-256color"}, "admin    console  Dec  4 03:20 \n")


def test_an_ssh_login_under_sudo_is_caught_by_who_am_i_when_the_variable_was_dropped():
    # `who am i` prints the remote host in parentheses (written from who(1), not captured on a Mac)
    assert ob.over_ssh({}, "admin    ttys001  Dec  4 03:21 (10.0.0.5)\n") == "this terminal is logged in from 10.0.0.5"


# --- reading the current location (written from networksetup(8)'s output formats) ------------

def test_the_service_order_maps_each_hardware_port_to_its_service():
    text = ("An asterisk (*) denotes that a network service is disabled.\n"
            "(1) Ethernet 10G\n(Hardware Port: Ethernet, Device: en0)\n\n"
            "(2) Thunderbolt Bridge\n(Hardware Port: Thunderbolt Bridge, Device: bridge0)\n\n"
            "(*) Wi-Fi\n(Hardware Port: Wi-Fi, Device: en1)\n")
    assert ob.parse_service_order(text) == {"Ethernet": "Ethernet 10G", "Thunderbolt Bridge": "Thunderbolt Bridge",
                                            "Wi-Fi": "Wi-Fi"}


def test_a_manual_configuration_is_read_from_getinfo():
    text = ("Manual Configuration\nIP address: 10.0.0.11\nSubnet mask: 255.255.255.0\nRouter: 10.0.0.1\n"
            "Client ID: \nIPv6: Automatic\nIPv6 IP address: none\nIPv6 Router: none\n")
    assert ob.parse_getinfo(text) == ("10.0.0.11", "255.255.255.0", "10.0.0.1")


def test_a_dhcp_configuration_has_nothing_to_carry_over():
    assert ob.parse_getinfo("DHCP Configuration\nIP address: 10.0.0.11\nSubnet mask: 255.255.255.0\n") is None


def test_no_dns_servers_reads_as_none():
    assert ob.parse_dnsservers("There aren't any DNS Servers set on Ethernet.\n") == ()
