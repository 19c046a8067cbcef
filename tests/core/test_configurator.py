"""The configurator's pure operations: node specs, and each change to a Topology, refused or made."""

from __future__ import annotations

import pytest

from odyssai import configurator as conf
from odyssai.errors import Conflict, NotFound, OdyssaiError, TransportMissing
from odyssai.plugins import get_plugin_manager
from odyssai.topology import Cluster, Node, Topology


@pytest.fixture(scope="module")
def pm():
    return get_plugin_manager()


def topo() -> Topology:
    return Topology(clusters={
        "lab": Cluster(backend="ring", nodes=[Node(name="a", host="10.0.0.1"), Node(name="b", host="10.0.0.2")]),
        "studio": Cluster(backend="jaccl",
                          nodes=[Node(name="m1", host="10.0.1.1"), Node(name="m2", host="10.0.1.2"),
                                 Node(name="m3", host="10.0.1.3")],
                          rdma_to={"m1": {"m2": "rdma_en2", "m3": "rdma_en3"}, "m2": {"m1": "rdma_en2", "m3": "rdma_en3"},
                                   "m3": {"m1": "rdma_en2", "m2": "rdma_en3"}}),
    })


# --- node specs ------------------------------------------------------------------------------

def test_a_node_spec_gives_name_user_host_and_port():
    assert conf.parse_node_spec("n1=admin@10.0.0.11:2222") == conf.NodeSpec("n1", "10.0.0.11", "admin", 2222)


def test_user_and_port_are_optional_in_a_node_spec():
    assert conf.parse_node_spec("n1=mac.local") == conf.NodeSpec("n1", "mac.local")


def test_an_ipv6_host_goes_in_brackets_with_its_port():
    assert conf.parse_node_spec("n=root@[fd00::2]:22") == conf.NodeSpec("n", "fd00::2", "root", 22)


@pytest.mark.parametrize("spec", ["n1", "=root@h", "n1=", "n1=@h", "n1=root@h:x", "n1=root@h:70000", "n=[fd00::1"])
def test_a_malformed_node_spec_is_one_line_saying_the_expected_form(spec):
    with pytest.raises(OdyssaiError) as e:
        conf.parse_node_spec(spec)
    assert "\n" not in str(e.value) and conf.NODE_SPEC in str(e.value)


@pytest.mark.parametrize("spec, field", [("n;rm=root@h", "node name"), ("n=root@h$(reboot)", "host"),
                                         ("n=ro`ot`@h", "user"), ("n=root@h|x:22", "host")])
def test_shell_metacharacters_in_a_node_are_refused_naming_the_part(spec, field):
    with pytest.raises(OdyssaiError) as e:
        conf.make_node({"spec": spec})
    assert field in str(e.value) and "\n" not in str(e.value)


def test_make_node_takes_more_fields_beside_the_spec():
    node = conf.make_node({"spec": "n=root@h", "ip": "10.0.0.5", "python": "/opt/py/bin/python"})
    assert (str(node.ip), node.python, node.user) == ("10.0.0.5", "/opt/py/bin/python", "root")


def test_a_bad_ip_names_the_node_and_the_field():
    with pytest.raises(OdyssaiError, match=r"node 'n': ip: ") as e:
        conf.make_node({"spec": "n=h", "ip": "not-an-ip"})
    assert e.value.param == "ip"


# --- operations ------------------------------------------------------------------------------

def test_create_makes_a_cluster_in_rank_order(pm):
    nodes = [conf.make_node({"spec": "x=root@10.0.2.1"}), conf.make_node({"spec": "y=root@10.0.2.2"})]
    change = conf.create_cluster(topo(), "new", "ring", nodes, pm, models_dir="/models")
    assert [n.name for n in change.cluster.nodes] == ["x", "y"] and change.cluster.models_dir == "/models"
    assert change.clusters() == {"new": change.cluster}


def test_create_refuses_an_existing_cluster_name(pm):
    with pytest.raises(Conflict, match="already exists"):
        conf.create_cluster(topo(), "lab", "ring", [conf.make_node({"spec": "x=h"})], pm)


def test_create_refuses_a_node_name_given_twice(pm):
    nodes = [conf.make_node({"spec": "x=h1"}), conf.make_node({"spec": "x=h2"})]
    with pytest.raises(Conflict, match="'x' is given twice"):
        conf.create_cluster(topo(), "new", "ring", nodes, pm)


def test_create_refuses_a_cluster_without_nodes(pm):
    with pytest.raises(OdyssaiError, match="needs at least one node"):
        conf.create_cluster(topo(), "new", "ring", [], pm)


def test_create_refuses_a_hostile_cluster_name(pm):
    with pytest.raises(OdyssaiError, match="cluster name 'a b;reboot' is not allowed"):
        conf.create_cluster(topo(), "a b;reboot", "ring", [conf.make_node({"spec": "x=h"})], pm)


def test_a_backend_no_plugin_provides_is_refused_with_the_pip_hint(pm):
    with pytest.raises(TransportMissing, match="pip install odyssai-transport-carrier-pigeon"):
        conf.create_cluster(topo(), "new", "carrier-pigeon", [conf.make_node({"spec": "x=10.0.0.9"})], pm)


def test_a_transport_that_does_not_accept_the_cluster_yet_is_a_warning(pm):
    nodes = [conf.make_node({"spec": "x=10.0.2.1"}), conf.make_node({"spec": "y=10.0.2.2"})]
    change = conf.create_cluster(topo(), "new", "jaccl", nodes, pm)
    assert change.cluster.backend == "jaccl"
    assert any("topology build new" in w for w in change.warnings)


def test_add_node_appends_the_last_rank(pm):
    change = conf.add_node(topo(), "lab", conf.make_node({"spec": "c=10.0.0.3"}), pm)
    assert [n.name for n in change.cluster.nodes] == ["a", "b", "c"] and "rank 2" in change.summary


def test_add_node_refuses_a_name_already_in_the_cluster(pm):
    with pytest.raises(Conflict, match="already has a node 'b'"):
        conf.add_node(topo(), "lab", conf.make_node({"spec": "b=10.0.0.9"}), pm)


def test_add_node_to_an_unknown_cluster_lists_the_known_ones(pm):
    with pytest.raises(NotFound, match="known clusters: lab, studio"):
        conf.add_node(topo(), "nope", conf.make_node({"spec": "c=10.0.0.3"}), pm)


def test_remove_node_takes_its_cables_out_of_rdma_to(pm):
    change = conf.remove_node(topo(), "studio", "m3", pm)
    assert change.cluster.rdma_to == {"m1": {"m2": "rdma_en2"}, "m2": {"m1": "rdma_en2"}}
    assert [n.name for n in change.cluster.nodes] == ["m1", "m2"] and not change.warnings


def test_remove_node_refuses_the_last_node_and_says_delete(pm):
    one = Topology(clusters={"solo": Cluster(nodes=[Node(name="a", host="10.0.0.1")])})
    with pytest.raises(Conflict, match="odyssai cluster delete solo"):
        conf.remove_node(one, "solo", "a", pm)


def test_remove_node_of_an_unknown_node_lists_the_nodes(pm):
    with pytest.raises(NotFound, match="nodes are: a, b"):
        conf.remove_node(topo(), "lab", "zz", pm)


def test_set_backend_switches_the_transport(pm):
    change = conf.set_backend(topo(), "studio", "ring", pm)
    assert change.cluster.backend == "ring" and "was jaccl" in change.summary


def test_set_backend_refuses_a_hostile_backend_name(pm):
    with pytest.raises(OdyssaiError, match="backend 'ring;reboot' is not allowed"):
        conf.set_backend(topo(), "lab", "ring;reboot", pm)


def test_delete_returns_a_change_that_removes_the_cluster():
    assert conf.delete_cluster(topo(), "lab").clusters() == {"lab": None}


# --- is it loaded? ---------------------------------------------------------------------------

@pytest.mark.parametrize("phase", ["loading", "idle", "generating", "stopping", "rebooting"])
def test_a_cluster_that_runs_is_refused(phase):
    refusal = conf.loaded_refusal("lab", phase, "the server at http://x")
    assert isinstance(refusal, Conflict) and "odyssai unload lab" in str(refusal)


@pytest.mark.parametrize("phase", ["unloaded", "failed", None])
def test_a_cluster_that_runs_nothing_may_change(phase):
    assert conf.loaded_refusal("lab", phase, "here") is None


def test_a_server_that_does_not_know_the_cluster_lets_the_change_go_on():
    assert conf.answer_refusal("lab", 404, {"error": {"message": "no cluster"}}, "http://x") is None


def test_a_server_that_refuses_the_api_key_refuses_the_change_with_the_hint():
    refusal = conf.answer_refusal("lab", 401, {"error": {"message": "a valid API key is required"}}, "http://x")
    assert isinstance(refusal, Conflict) and "ODYSSAI_API_KEY" in str(refusal)
