"""The ring transport: hostfile and ports per rank (clear of the topology's other clusters), and how its failures read."""

from __future__ import annotations

import json

import pytest

from odyssai.errors import TopologyError
from odyssai.topology import Cluster, Node
from odyssai.transport import default_port_base
from odyssai.ports import assign_port_bases
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


@pytest.mark.parametrize("text,kind", [
    # the texts MLX's ring backend raises (the runner prefixes "rank N: RuntimeError: ")
    ("rank 1: RuntimeError: [ring] Couldn't bind socket (error: 99)", "wrong_ip"),
    ("rank 1: RuntimeError: [ring] Couldn't bind socket (error: 98)", "port_in_use"),
    ("rank 0: RuntimeError: [ring] Couldn't bind socket (error: 48)", "port_in_use"),   # macOS EADDRINUSE
    ("rank 0: RuntimeError: [ring] Couldn't bind socket (error: 49)", "wrong_ip"),      # macOS EADDRNOTAVAIL
    ("OSError: [Errno 99] Cannot assign requested address", "wrong_ip"),
    ("RuntimeError: [ring] connection to a peer was lost", "peer_lost"),
])
def test_mlx_ring_error_texts_are_classified(text, kind):
    f = classify_ring_error(text, rank=1, node="m1")
    assert f is not None and f.kind == kind and f.node == "m1" and f.remedy


def test_an_unknown_error_is_not_classified():
    assert classify_ring_error("ValueError: something else", rank=0, node="m0") is None


# -- ports of several clusters in one topology ------------------------------------------------------
def test_the_hashed_port_ranges_of_c10_and_c14_are_the_same():
    assert default_port_base("c10") == default_port_base("c14")  # why the ring checks the whole topology


class ring_with:
    """The ring transport as core calls it: with the topology's other clusters."""

    def __init__(self, topology: dict[str, Cluster]):
        self.topology, self.t = topology, RingTransport()

    def others(self, name: str) -> dict[str, Cluster]:
        return {n: c for n, c in self.topology.items() if n != name}

    def check(self, name: str, spec: Cluster) -> None:
        self.t.check(name, spec, others=self.others(name))

    def rank_setup(self, name: str, spec: Cluster, rank: int):
        return self.t.rank_setup(name, spec, rank, others=self.others(name))


def ports_on(t: ring_with, name: str, spec: Cluster) -> dict[str, int]:
    """host -> port the cluster's rank listens on there, from the hostfile its ranks get."""
    t.check(name, spec)
    hostfile = json.loads(t.rank_setup(name, spec, 0).files["MLX_HOSTFILE"])
    return {addr.rsplit(":", 1)[0]: int(addr.rsplit(":", 1)[1]) for (addr,) in hostfile}


def test_two_clusters_sharing_nodes_whose_names_hash_alike_get_different_ports():
    topo = {"c10": cluster(2), "c14": cluster(2)}
    t = ring_with(topo)
    a, b = ports_on(t, "c10", topo["c10"]), ports_on(t, "c14", topo["c14"])
    base = default_port_base("c10")
    assert a == {"10.0.0.1": base, "10.0.0.2": base + 1}  # the first (by name) keeps its ports
    assert not set(a.items()) & set(b.items())
    assert ports_on(ring_with(topo), "c14", topo["c14"]) == b  # the same wherever it is computed


def test_clusters_on_other_nodes_keep_their_hashed_ports():
    other = Cluster(nodes=[Node(name=f"x{i}", host=f"10.9.0.{i + 1}") for i in range(2)])
    topo = {"c10": cluster(2), "c14": other}
    assert ports_on(ring_with(topo), "c14", other)["10.9.0.1"] == default_port_base("c14")


def test_a_cluster_moves_out_of_the_way_of_an_explicit_port_base():
    topo = {"lab": cluster(2), "fixed": cluster(3, port_base=default_port_base("lab"))}
    ports = ports_on(ring_with(topo), "lab", topo["lab"])
    assert default_port_base("lab") not in ports.values()


def test_two_explicit_port_bases_that_clash_are_refused_naming_both_clusters_and_a_fix():
    topo = {"alpha": cluster(2, port_base=40000), "beta": cluster(3, port_base=40000)}
    with pytest.raises(TopologyError) as e:
        ring_with(topo).check("beta", topo["beta"])
    assert str(e.value).startswith("clusters 'beta' and 'alpha' would both listen on port 40000 on node m0")
    assert "port_base:" in e.value.hint and e.value.param == "port_base"
    suggested = int(e.value.hint.split("port_base: ")[1].split()[0])
    fixed = {**topo, "beta": cluster(3, port_base=suggested)}
    ring_with(fixed).check("beta", fixed["beta"])  # the suggestion is free


def test_explicit_port_bases_that_only_overlap_on_different_nodes_are_fine():
    # alpha's rank 1 (10.0.0.2) and beta's rank 0 (10.0.0.1) both use 40001, on two different machines
    topo = {"alpha": cluster(2, port_base=40000), "beta": cluster(2, port_base=40001)}
    ring_with(topo).check("beta", topo["beta"])


def test_a_clash_with_a_cluster_of_another_backend_is_refused():
    jaccl = cluster(2, backend="jaccl", port_base=40000)
    topo = {"mesh": jaccl, "eth": cluster(2, port_base=40000)}
    with pytest.raises(TopologyError, match="clusters '(eth|mesh)' and '(mesh|eth)' would both listen on port 40000"):
        ring_with(topo).check("eth", topo["eth"])


def test_a_ring_cluster_moves_out_of_the_way_of_a_jaccl_cluster_and_both_agree_on_it():
    from odyssai_transport_jaccl import JacclTransport

    mesh = {"m0": {"m1": "rdma_en2"}, "m1": {"m0": "rdma_en2"}}
    topo = {"c10": cluster(2, backend="jaccl", rdma_to=mesh), "c14": cluster(2)}   # c10, c14: same hash
    ring_port = ports_on(ring_with(topo), "c14", topo["c14"])["10.0.0.1"]
    coordinator = JacclTransport().rank_setup("c10", topo["c10"], 0, others={"c14": topo["c14"]})
    assert coordinator.env["MLX_JACCL_COORDINATOR"] == f"10.0.0.1:{default_port_base('c10')}"
    assert ring_port != default_port_base("c10")


def test_assign_port_bases_is_pure_and_leaves_one_node_clusters_alone():
    topo = {"c10": cluster(2), "c14": cluster(2), "solo": cluster(1)}
    bases, clashes = assign_port_bases(topo, movable=set(topo))
    assert clashes == [] and bases["c10"] != bases["c14"]
    assert ring_with(topo).rank_setup("solo", topo["solo"], 0).files == {}


def test_without_the_other_clusters_a_cluster_keeps_its_own_ports():
    # a caller that does not know the topology (e.g. a plugin's own tool) gets the hashed base
    t = RingTransport()
    t.check("c14", cluster(2))
    hostfile = json.loads(t.rank_setup("c14", cluster(2), 0).files["MLX_HOSTFILE"])
    assert hostfile[0] == [f"10.0.0.1:{default_port_base('c14')}"]


@pytest.mark.slow
def test_two_clusters_on_this_machine_whose_names_hash_alike_both_load_and_serve(tmp_path, monkeypatch):
    # c10 and c14 share the hashed port range: core must hand the ring the other cluster, or
    # the second load's ranks find their ports taken
    import asyncio
    import sys

    from odyssai import protocol
    from odyssai.cluster import ClusterManager
    from odyssai.plugins import get_plugin_manager
    from odyssai.settings import load_settings
    from odyssai.topology import save_clusters
    from support.tinymodels import build_llama

    build_llama(tmp_path / "models", "tiny-llama")
    local = [Node(name=f"l{i}", host="localhost", ip="127.0.0.1", spawner="local", python=sys.executable)
             for i in range(2)]
    save_clusters(tmp_path / "topology.yaml",
                  {n: Cluster(models_dir=str(tmp_path / "models"), nodes=local) for n in ("c10", "c14")})

    hostfiles: dict[str, set[str]] = {}
    real_setup = RingTransport.rank_setup

    def recorded(self, name, spec, rank, others=None):  # what the ranks core spawns are given
        setup = real_setup(self, name, spec, rank, others)
        hostfiles.setdefault(name, set()).add(setup.files["MLX_HOSTFILE"])
        return setup

    monkeypatch.setattr(RingTransport, "rank_setup", recorded)

    async def both() -> list[str]:
        manager = ClusterManager(load_settings(home=tmp_path), get_plugin_manager())
        try:
            # at once: while their ranks join their rings, both would listen on the same ports
            await asyncio.gather(*(manager.get(name).load("tiny-llama") for name in ("c10", "c14")))
            texts = []
            for name in ("c10", "c14"):
                gen = protocol.Generate(id=f"r-{name}", prompt="Hello", params=protocol.SamplingParams(max_tokens=3))
                texts.append("".join([m.text async for m in manager.get(name).generate(gen)
                                      if isinstance(m, protocol.Tokens)]))
            return texts
        finally:
            await manager.shutdown()

    a, b = asyncio.run(both())
    assert a == b and a  # the same model answers the same on both clusters, at once
    ports = {name: {addr for f in files for (addr,) in json.loads(f)} for name, files in hostfiles.items()}
    assert len(ports["c10"]) == len(ports["c14"]) == 2 and not ports["c10"] & ports["c14"]
