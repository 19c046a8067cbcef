"""The ring transport: hostfile and ports per rank, and how its failures read."""

from __future__ import annotations

import json

from odyssai.topology import Cluster, Node
from odyssai.transport import default_port_base
from odyssai_transport_ring.ring import RingTransport, classify_ring_error, ring_hostfile


def cluster(n: int, **kw) -> Cluster:
    return Cluster(nodes=[Node(name=f"m{i}", host=f"10.0.0.{i + 1}") for i in range(n)], **kw)


def test_every_rank_gets_the_same_hostfile_with_one_address_per_rank():
    t = RingTransport()
    setups = [t.rank_setup("lab", cluster(3), r) for r in range(3)]
    files = {s.files["MLX_HOSTFILE"] for s in setups}
    assert len(files) == 1
    base = default_port_base("lab")
    assert json.loads(files.pop()) == [[f"10.0.0.1:{base}"], [f"10.0.0.2:{base + 1}"], [f"10.0.0.3:{base + 2}"]]
    assert [s.env["MLX_RANK"] for s in setups] == ["0", "1", "2"]


def test_a_one_node_cluster_needs_no_hostfile():
    assert RingTransport().rank_setup("solo", cluster(1), 0).files == {}


def test_two_clusters_on_the_same_nodes_get_different_ports():
    a, b = ring_hostfile("alpha", cluster(2)), ring_hostfile("beta", cluster(2))
    ports = lambda hf: {int(addr.rsplit(":", 1)[1]) for (addr,) in hf}  # noqa: E731
    assert not ports(a) & ports(b)


def test_a_port_base_in_the_topology_wins():
    assert ring_hostfile("lab", cluster(2, port_base=40000)) == [["10.0.0.1:40000"], ["10.0.0.2:40001"]]


def test_a_refused_connection_names_the_rank_node_and_peer():
    f = classify_ring_error("RuntimeError: [ring] Couldn't connect to 10.0.0.2:40001 (error: 111)", rank=0, node="m0")
    assert f.kind == "peer_refused" and f.rank == 0 and f.node == "m0" and "10.0.0.2:40001" in f.message


def test_a_timeout_is_its_own_kind():
    f = classify_ring_error("[ring] connect to 10.0.0.3:40002 timed out", rank=1, node="m1")
    assert f.kind == "peer_timeout" and "10.0.0.3:40002" in f.message


def test_a_port_in_use_says_what_to_do():
    f = classify_ring_error("bind failed: Address already in use", rank=0, node="m0")
    assert f.kind == "port_in_use" and "port_base" in f.remedy


def test_an_unknown_error_is_not_classified():
    assert classify_ring_error("ValueError: something else", rank=0, node="m0") is None
