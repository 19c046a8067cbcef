"""The env and device matrix of each rank are what MLX's own tools produce for the same cables.

The reference is the code that ships with mlx (``mlx._distributed_utils``), run for real:
``prepare_tb_hostfile`` (what ``mlx.distributed_config --over thunderbolt`` does) reads the
cables from ``system_profiler SPThunderboltDataType -json`` and ``networksetup
-listallhardwareports``, picks jaccl or jaccl-ring, and writes a hostfile; ``launch_jaccl``
(what ``mlx.launch`` does) turns that hostfile into each rank's env and files. Only the edges
are replaced: ``subprocess.run`` answers with the outputs of Macs wired as the test says
(written from the tools' documented formats, not captured on a Mac), and ``_launch_with_io``
records its arguments instead of starting processes.
"""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace

import pytest
from mlx._distributed_utils import config as mlx_config
from mlx._distributed_utils import launch as mlx_launch
from mlx._distributed_utils.common import Hostfile

from odyssai.topology import Cluster, Node
from odyssai_transport_jaccl import JacclTransport

CLUSTER = "studio"
PORT = 40123


def iface(tag: int) -> str:
    """Thunderbolt receptacle ``tag`` is device en<tag+1>, as on a Mac Studio."""
    return f"en{tag + 1}"


def mesh_cables(n: int) -> list[tuple[int, int, int, int]]:
    """Every pair cabled; node i uses receptacle (j - i) mod n toward node j."""
    return [(i, (j - i) % n, j, (i - j) % n) for i in range(n) for j in range(i + 1, n)]


def ring_cables(n: int) -> list[tuple[int, int, int, int]]:
    """Node i uses receptacle 1 toward i+1 and receptacle 2 toward i-1."""
    return [(i, 1, (i + 1) % n, 2) for i in range(n)]


class FakeMacs:
    """Answers ``subprocess.run`` the way Macs wired by ``cables`` would, over SSH."""

    def __init__(self, names: list[str], ips: list[str], cables):
        self.names, self.ips = names, ips
        self.ports: dict[str, dict[int, str | None]] = {n: {} for n in names}
        for a, ta, b, tb in cables:
            self.ports[names[a]][ta] = f"{names[b]}-{tb}"
            self.ports[names[b]][tb] = f"{names[a]}-{ta}"

    def system_profiler(self, host: str) -> bytes:
        buses = [{"device_name_key": "Mac Studio", "domain_uuid_key": f"{host}-{tag}",
                  "receptacle_1_tag": {"receptacle_id_key": str(tag)},
                  "_items": [{"domain_uuid_key": peer, "device_name_key": "Mac Studio"}]}
                 for tag, peer in sorted(self.ports[host].items())]
        return json.dumps({"SPThunderboltDataType": buses}).encode()

    def hardware_ports(self, host: str) -> bytes:
        text = "\nHardware Port: Ethernet\nDevice: en0\nEthernet Address: 1c:1d:d3:e0:11:22\n"
        for tag in sorted(self.ports[host]):
            text += (f"\nHardware Port: Thunderbolt {tag}\nDevice: {iface(tag)}\n"
                     f"Ethernet Address: 36:9a:12:34:56:0{tag}\n")
        return text.encode()

    def __call__(self, cmd, capture_output=False, text=False, **kw):
        host, *rest = cmd[1:] if cmd[0] == "ssh" else (None, *cmd)
        if rest[:1] == ["system_profiler"]:
            out = self.system_profiler(host)
        elif rest[:1] == ["networksetup"]:
            out = self.hardware_ports(host)
        elif rest[:1] == ["ibv_devices"]:
            out = " ".join(f"rdma_{iface(t)}" for t in self.ports[host])
        elif rest[:2] == ["ipconfig", "getifaddr"]:
            out = self.ips[self.names.index(host)] if rest[2] == "en0" else ""
        else:  # the auto-setup's ifconfig lines: accepted, nothing to do here
            out = ""
        if isinstance(out, bytes) and text:
            out = out.decode()
        return SimpleNamespace(stdout=out, stderr="" if text else b"", returncode=0)


def mlx_reference(monkeypatch, tmp_path, names, ips, cables):
    """Run mlx's configure + launch for these cables; return (backend, [(env, files), ...])."""
    monkeypatch.setattr(mlx_config, "run", FakeMacs(names, ips, cables))
    out = tmp_path / "hostfile.json"
    args = argparse.Namespace(verbose=False, backend=None, env=[], dot=False, auto_setup=True,
                              output_hostfile=str(out))
    hosts = Hostfile.from_list(",".join(names)).hosts
    mlx_config.prepare_tb_hostfile(args, hosts, [mlx_config.SSHInfo(True, True)] * len(hosts))
    hostfile = Hostfile.from_file(out)

    captured = []
    monkeypatch.setattr(mlx_launch, "_launch_with_io", lambda cls, arguments, verbose: captured.extend(arguments))
    parser = argparse.ArgumentParser()
    parser.error = lambda msg: pytest.fail(f"mlx.launch refused the hostfile: {msg}")
    largs = argparse.Namespace(backend=hostfile.backend, env=[], cwd=None, starting_port=PORT,
                               python=None, verbose=False)
    mlx_launch.launch_jaccl(parser, hostfile.hosts, largs, ["python", "-m", "odyssai.runner"])

    ranks = []
    for (rank, _host, python, cwd, files, env, command), _ in captured:
        script = mlx_launch.RemoteProcess.make_launch_script(rank, python, cwd, files, env, command, True)
        assert f"export MLX_RANK={rank};" in script  # mlx.launch sets the rank in the script
        ranks.append((dict(e.split("=", 1) for e in env) | {"MLX_RANK": str(rank)}, dict(files)))
    return hostfile.backend, ranks


def our_cluster(names, ips, cables) -> Cluster:
    rdma_to: dict[str, dict[str, str]] = {n: {} for n in names}
    for a, ta, b, tb in cables:
        rdma_to[names[a]][names[b]] = f"rdma_{iface(ta)}"
        rdma_to[names[b]][names[a]] = f"rdma_{iface(tb)}"
    return Cluster(backend="jaccl", port_base=PORT, rdma_to=rdma_to,
                   nodes=[Node(name=n, host=ip) for n, ip in zip(names, ips, strict=True)])


def ours(cluster: Cluster) -> list[tuple[dict, dict]]:
    t = JacclTransport()
    return [(s.env, s.files) for s in (t.rank_setup(CLUSTER, cluster, r) for r in range(len(cluster.nodes)))]


def layout(n: int):
    return [f"studio-{chr(97 + i)}" for i in range(n)], [f"10.0.0.{i + 11}" for i in range(n)]


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_a_full_mesh_gets_the_env_and_device_matrix_mlx_launch_gives_each_rank(monkeypatch, tmp_path, n):
    names, ips = layout(n)
    backend, reference = mlx_reference(monkeypatch, tmp_path, names, ips, mesh_cables(n))
    assert backend == "jaccl"
    assert ours(our_cluster(names, ips, mesh_cables(n))) == reference


@pytest.mark.parametrize("n", [4, 5])
def test_a_ring_gets_the_env_and_device_matrix_mlx_launch_gives_each_rank_of_jaccl_ring(monkeypatch, tmp_path, n):
    names, ips = layout(n)
    backend, reference = mlx_reference(monkeypatch, tmp_path, names, ips, ring_cables(n))
    assert backend == "jaccl-ring"
    assert ours(our_cluster(names, ips, ring_cables(n))) == reference


def test_a_ring_tells_jaccl_to_use_its_ring_algorithm():
    names, ips = layout(4)
    env, _ = ours(our_cluster(names, ips, ring_cables(4)))[2]
    assert env["MLX_JACCL_RING"] == "1"


def test_a_mesh_does_not_ask_for_the_ring_algorithm():
    names, ips = layout(4)
    env, _ = ours(our_cluster(names, ips, mesh_cables(4)))[2]
    assert "MLX_JACCL_RING" not in env


def test_the_device_matrix_names_the_device_toward_each_peer_with_null_on_the_diagonal():
    names, ips = layout(3)
    _, files = ours(our_cluster(names, ips, mesh_cables(3)))[0]
    assert json.loads(files["MLX_IBV_DEVICES"]) == [
        [None, "rdma_en2", "rdma_en3"],
        ["rdma_en3", None, "rdma_en2"],
        ["rdma_en2", "rdma_en3", None],
    ]


def test_the_device_matrix_of_a_ring_is_null_toward_ranks_that_are_not_neighbours():
    names, ips = layout(4)
    _, files = ours(our_cluster(names, ips, ring_cables(4)))[0]
    assert json.loads(files["MLX_IBV_DEVICES"])[0] == [None, "rdma_en2", None, "rdma_en3"]


def test_the_coordinator_is_rank_0s_ethernet_ip_on_the_clusters_port():
    names, ips = layout(2)
    env, _ = ours(our_cluster(names, ips, mesh_cables(2)))[1]
    assert env["MLX_JACCL_COORDINATOR"] == f"{ips[0]}:{PORT}"
