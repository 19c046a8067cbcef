"""The testbed's pure logic: names, addresses, cable plans, sshd/ssh settings. No root needed."""

from __future__ import annotations

import ipaddress
import re
import shlex
from pathlib import Path

import pytest

from odyssai.topology import validate_mesh
from odyssai_testbed import plan
from odyssai_testbed.errors import TestbedError
from odyssai_testbed.plan import Cable
from odyssai_testbed.reboot import reboot_command
from odyssai_testbed.requirements import verdict
from odyssai_testbed.sshd import check_state_dir, ssh_argv, sshd_config


def test_every_interface_name_fits_in_15_characters():
    tid = "zz99"
    names = [plan.bridge(tid), plan.ethernet_root(tid, plan.MAX_NODES), plan.ethernet_temp(tid, plan.MAX_NODES),
             plan.cable_temp(tid, plan.MAX_CABLES - 1, "a"), plan.cable_temp(tid, plan.MAX_CABLES - 1, "b")]
    assert all(len(n) <= 15 for n in names), names


def test_every_name_a_testbed_makes_carries_its_id():
    tid = "k3f9"
    names = [plan.namespace(tid, "node1"), plan.bridge(tid), plan.ethernet_root(tid, 2),
             plan.ethernet_temp(tid, 2), plan.cable_temp(tid, 7, "b")]
    assert [plan.id_of(n) for n in names] == [tid] * len(names)


@pytest.mark.parametrize("name", ["eth0", "en2", "otb", "otb-probe-123", "otbk3f9", "otbk3f9x", "lo", "docker0"])
def test_names_a_testbed_did_not_make_are_not_taken_for_leftovers(name):
    assert plan.id_of(name) is None


def test_new_ids_are_short_and_valid():
    assert all(plan.check_id(plan.new_id()) for _ in range(50))


def test_a_node_count_becomes_node_names():
    assert plan.node_names(3) == ["node1", "node2", "node3"]


@pytest.mark.parametrize("nodes", [0, 6, [], ["a", "a"], ["bad name"]])
def test_impossible_node_lists_are_refused(nodes):
    with pytest.raises(TestbedError):
        plan.node_names(nodes)


def test_nodes_get_consecutive_addresses_and_the_orchestrator_254():
    subnet = ipaddress.IPv4Network("10.213.7.0/24")
    assert [plan.node_ip(subnet, i) for i in (1, 2, 3)] == ["10.213.7.1", "10.213.7.2", "10.213.7.3"]
    assert plan.root_ip(subnet) == "10.213.7.254"


def test_a_subnet_in_use_is_skipped():
    used = ["10.213.0.0/24", "10.213.1.0/24", "10.213.2.7/32"]
    assert plan.choose_subnet(used) == ipaddress.IPv4Network("10.213.3.0/24")


def test_no_subnet_is_chosen_inside_a_network_the_host_already_routes():
    with pytest.raises(TestbedError, match="no free /24"):
        plan.choose_subnet(["10.0.0.0/8"])


def test_the_default_wiring_is_a_full_mesh_with_mac_like_ports():
    cables = plan.plan_cables(plan.node_names(5), None)
    assert len(cables) == 10
    for node in plan.node_names(5):
        assert plan.ports_of(node, cables) == ["en2", "en3", "en4", "en5"]


def test_pairs_take_the_next_free_port_around_explicit_ones():
    cables = plan.plan_cables(["a", "b", "c"], [("a", "en2", "b", "en7"), ("a", "b"), ("b", "c")])
    assert cables == [Cable("a", "en2", "b", "en7"), Cable("a", "en3", "b", "en2"), Cable("b", "en3", "c", "en2")]


def test_no_cables_is_a_valid_wiring():
    assert plan.plan_cables(["a", "b"], []) == []


def test_wiring_mistakes_can_be_planned():
    cables = plan.plan_cables(["a", "b"], [("a", "b"), ("a", "b"), ("a", "a"),
                                           Cable("b", "en9", "a", "en9", up_a=True, up_b=False)])
    assert len(cables) == 4 and cables[-1].up_b is False


@pytest.mark.parametrize("cables, message", [
    ([("a", "z")], "not a node"),
    ([("a", "en0", "b", "en2")], "not a Thunderbolt port"),
    ([("a", "eth1", "b", "en2")], "not a Thunderbolt port"),
    ([("a", "en2", "b", "en2"), ("a", "en2", "b", "en3")], "used by two cables"),
    ([("a", "b", "c")], "a cable is"),
])
def test_impossible_cables_are_refused_with_the_reason(cables, message):
    with pytest.raises(TestbedError, match=message):
        plan.plan_cables(["a", "b"], cables)


def test_the_rdma_matrix_of_a_full_mesh_is_a_valid_mesh():
    nodes = plan.node_names(4)
    matrix = plan.rdma_to(plan.plan_cables(nodes, None))
    assert validate_mesh(nodes, matrix).ok
    assert matrix["node1"] == {"node2": "rdma_en2", "node3": "rdma_en3", "node4": "rdma_en4"}


def test_a_cable_with_one_end_down_is_missing_from_the_rdma_matrix():
    nodes = plan.node_names(3)
    cables = plan.plan_cables(nodes, None)
    matrix = plan.rdma_to(cables, {(cables[0].node_b, cables[0].port_b): False})
    assert "node2" not in matrix["node1"]
    assert "missing cable: node1 <-> node2" in validate_mesh(nodes, matrix).problems


MESH3 = plan.plan_cables(["node1", "node2", "node3"], None)   # 1-2 en2/en2, 1-3 en3/en2, 2-3 en3/en3


def test_moving_an_end_to_another_port_keeps_the_other_end_and_its_orientation():
    moved = plan.move_cable(["node1", "node2", "node3"], MESH3, MESH3[0], end="node2", port="en5")
    assert moved == Cable("node1", "en2", "node2", "en5")
    moved = plan.move_cable(["node1", "node2", "node3"], MESH3, MESH3[0], end="node1")
    assert moved == Cable("node1", "en4", "node2", "en2")   # the first port of node1 with no cable


def test_an_end_can_move_to_a_third_node_or_back_into_its_own_node():
    nodes = ["node1", "node2", "node3"]
    assert plan.move_cable(nodes, MESH3, MESH3[0], end="node2", node="node3") == Cable("node1", "en2", "node3", "en4")
    assert plan.move_cable(nodes, MESH3, MESH3[0], end="node2", node="node1") == Cable("node1", "en2", "node1", "en4")


def test_the_ends_of_a_moved_cable_keep_their_starting_state():
    cables = [Cable("node1", "en2", "node2", "en2", up_a=False)]
    assert plan.move_cable(["node1", "node2"], cables, cables[0], end="node2", port="en3").up_a is False


@pytest.mark.parametrize("kw, message", [
    ({"end": "node3"}, "has no end on 'node3'"),
    ({"end": "node2", "node": "node9"}, "no node 'node9'"),
    ({"end": "node2", "port": "eth1"}, "not a Thunderbolt port name"),
    ({"end": "node2", "port": "en3"}, "port node2:en3 already has a cable: node2:en3<->node3:en3"),
    ({"end": "node2", "port": "en2"}, "is already on node2:en2"),
    ({"end": "node2", "node": "node1", "port": "en3"}, "port node1:en3 already has a cable"),
    ({"end": "node2", "node": "node1", "port": "en2"}, "cannot plug both ends of cable node1:en2<->node2:en2 into"),
])
def test_impossible_moves_are_refused_with_the_reason(kw, message):
    with pytest.raises(TestbedError, match=re.escape(message)):
        plan.move_cable(["node1", "node2", "node3"], MESH3, MESH3[0], **kw)


def test_a_one_sided_cable_is_in_the_rdma_matrix_in_the_direction_that_is_seen():
    matrix = plan.rdma_to(MESH3, deaf=[("node3", "en3")])    # node3 does not see node2
    assert matrix["node2"]["node3"] == "rdma_en3" and "node2" not in matrix["node3"]
    assert "one-sided cable: node2 -> node3 (rdma_en3) is not seen from node3" in \
        validate_mesh(["node1", "node2", "node3"], matrix).problems


def test_of_two_cables_between_two_nodes_the_one_with_the_smallest_ends_is_in_the_matrix():
    cables = [Cable("node1", "en3", "node2", "en2"), Cable("node1", "en2", "node2", "en4")]
    assert plan.rdma_to(cables) == {"node1": {"node2": "rdma_en2"}, "node2": {"node1": "rdma_en4"}}


@pytest.mark.parametrize("text, parsed", [("node1,node2", ("node1", "node2")),
                                          ("node1:en3,node2:en2", ("node1", "en3", "node2", "en2"))])
def test_a_cable_typed_on_the_command_line_is_parsed(text, parsed):
    assert plan.parse_cable_arg(text) == parsed


@pytest.mark.parametrize("text", ["node1", "node1,node2,node3", "node1:en2,node2", ","])
def test_a_badly_typed_cable_is_refused(text):
    with pytest.raises(TestbedError, match="cable"):
        plan.parse_cable_arg(text)


def test_sshd_config_allows_key_only_root_login_and_sftp_on_the_node_address():
    text = sshd_config(Path("/s"), "node2", "10.213.0.2")
    for line in ["ListenAddress 10.213.0.2:22", "Subsystem sftp internal-sftp", "UsePAM no",
                 "PermitRootLogin prohibit-password", "PasswordAuthentication no", "StrictModes no",
                 "PidFile /s/nodes/node2/sshd.pid", "HostKey /s/nodes/node2/ssh_host_ed25519_key"]:
        assert line in text.splitlines()


def test_ssh_argv_keeps_host_key_checking_on_and_quotes_every_word():
    argv = ssh_argv("10.213.0.1", Path("/k"), Path("/kh"), ["echo", "a b", "$HOME"])
    assert "StrictHostKeyChecking=yes" in argv and "BatchMode=yes" in argv
    assert "UserKnownHostsFile=/kh" in argv and argv[argv.index("-i") + 1] == "/k"
    assert shlex.split(argv[-1]) == ["echo", "a b", "$HOME"]


def test_the_reboot_command_runs_the_testbeds_reboot_entry_point():
    line = reboot_command(Path("/state"), "node2", python="/venv/bin/python", delay=2)
    assert shlex.split(line) == ["/venv/bin/python", "-m", "odyssai_testbed", "reboot-node", "--delay", "2",
                                 "/state", "node2"]


@pytest.mark.parametrize("path", ["/tmp/with space", "/tmp/100%", "/tmp/quote'd"])
def test_state_dirs_with_shell_or_sshd_special_characters_are_refused(path):
    with pytest.raises(TestbedError, match="may contain only"):
        check_state_dir(Path(path))


def test_a_missing_requirement_skips_a_test_but_fails_it_on_ci():
    assert verdict(None, on_ci=True) is None
    assert verdict("the testbed needs root", on_ci=False) == ("skip", "the testbed needs root")
    kind, why = verdict("the testbed needs root", on_ci=True)
    assert kind == "fail" and why.startswith("the testbed needs root")
