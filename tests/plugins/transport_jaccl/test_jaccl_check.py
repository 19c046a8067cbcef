"""``JacclTransport.check``: a cluster without usable wiring is refused with what to run next."""

from __future__ import annotations

import pytest

from odyssai.errors import ConfigError
from odyssai.topology import Cluster, Node
from odyssai_transport_jaccl import JacclTransport, wiring_of


def cluster(n: int, rdma_to=None, **kw) -> Cluster:
    nodes = [Node(name=f"n{i}", host=f"10.0.0.{i + 1}") for i in range(n)]
    return Cluster(backend="jaccl", nodes=nodes, rdma_to=rdma_to, **kw)


def mesh(n: int) -> dict[str, dict[str, str]]:
    return {f"n{i}": {f"n{j}": f"rdma_en{2 + (j - i) % n}" for j in range(n) if j != i} for i in range(n)}


def ring(n: int) -> dict[str, dict[str, str]]:
    return {f"n{i}": {f"n{(i + 1) % n}": "rdma_en2", f"n{(i - 1) % n}": "rdma_en3"} for i in range(n)}


def test_a_cluster_without_rdma_to_is_refused_and_told_to_build_the_topology():
    with pytest.raises(ConfigError, match="no rdma_to") as e:
        JacclTransport().check("lab", cluster(2))
    assert "odyssai topology build lab" in str(e.value)


def test_a_mesh_missing_one_cable_is_refused_naming_the_missing_cable():
    wiring = mesh(3)
    del wiring["n0"]["n2"], wiring["n2"]["n0"]
    with pytest.raises(ConfigError, match=r"missing cable: n0 <-> n2") as e:
        JacclTransport().check("lab", cluster(3, wiring))
    assert "odyssai topology build lab" in str(e.value)


def test_a_cable_seen_from_one_end_only_is_refused_as_one_sided():
    wiring = mesh(2)
    del wiring["n1"]["n0"]
    with pytest.raises(ConfigError, match="one-sided cable"):
        JacclTransport().check("lab", cluster(2, wiring))


def test_a_ring_of_four_is_accepted_as_a_ring():
    assert wiring_of("lab", cluster(4, ring(4))) == "ring"


def test_a_full_mesh_of_four_is_accepted_as_a_mesh():
    assert wiring_of("lab", cluster(4, mesh(4))) == "mesh"


def test_a_ring_that_does_not_follow_the_node_order_is_refused():
    wiring = ring(4)
    names = {"n1": "n2", "n2": "n1"}  # swap two nodes' cables: the ring is n0-n2-n1-n3
    swapped = {names.get(a, a): {names.get(b, b): d for b, d in peers.items()} for a, peers in wiring.items()}
    with pytest.raises(ConfigError, match="not a full mesh or a ring in node order"):
        JacclTransport().check("lab", cluster(4, swapped))


def test_a_device_that_is_not_an_rdma_device_name_is_refused():
    wiring = mesh(2)
    wiring["n0"]["n1"] = "en2"
    with pytest.raises(ConfigError, match=r"'en2', not an RDMA device name"):
        JacclTransport().check("lab", cluster(2, wiring))


def test_a_single_node_cluster_is_refused_and_pointed_at_ring():
    with pytest.raises(ConfigError, match="at least 2 nodes") as e:
        JacclTransport().check("lab", cluster(1, {}))
    assert "backend: ring" in str(e.value)


def test_rank_0_without_an_ethernet_ipv4_is_refused():
    c = Cluster(backend="jaccl", rdma_to=mesh(2),
                nodes=[Node(name="n0", host="studio-a.local"), Node(name="n1", host="10.0.0.2")])
    with pytest.raises(ConfigError, match="no Ethernet IPv4"):
        JacclTransport().check("lab", c)


def test_the_coordinator_port_defaults_to_the_port_derived_from_the_cluster_name():
    from odyssai.transport import default_port_base

    setup = JacclTransport().rank_setup("lab", cluster(2, mesh(2)), 0)
    assert setup.env["MLX_JACCL_COORDINATOR"] == f"10.0.0.1:{default_port_base('lab')}"


def test_two_clusters_on_the_same_macs_whose_names_hash_alike_get_different_coordinator_ports():
    from odyssai.transport import default_port_base

    assert default_port_base("c10") == default_port_base("c14")
    topo = {"c10": cluster(2, mesh(2)), "c14": cluster(2, mesh(2))}
    port = {name: JacclTransport().rank_setup(name, spec, 0, others={n: c for n, c in topo.items() if n != name})
            .env["MLX_JACCL_COORDINATOR"] for name, spec in topo.items()}
    assert port["c10"] == f"10.0.0.1:{default_port_base('c10')}" and port["c14"] != port["c10"]


def test_a_coordinator_port_that_clashes_with_a_ring_clusters_explicit_ports_is_refused():
    ring_cluster = Cluster(backend="ring", nodes=cluster(2).nodes, port_base=40000)
    with pytest.raises(ConfigError, match="'lab' and 'eth' would both listen on port 40000 on node n0"):
        JacclTransport().check("lab", cluster(2, mesh(2), port_base=40000), others={"eth": ring_cluster})


def test_a_rank_outside_the_cluster_is_an_error():
    with pytest.raises(ValueError, match="rank 2"):
        JacclTransport().rank_setup("lab", cluster(2, mesh(2)), 2)
