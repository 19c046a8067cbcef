"""The odyssai command line: plugins, topology, config; errors as one line and an exit code."""

from __future__ import annotations

import json

from support.dists import run_odyssai

TOPO = """\
clusters:
  lab:
    nodes:
      - {name: a, host: 10.0.0.1}
      - {name: b, host: 10.0.0.2}
    rdma_to:
      a: {b: rdma_en2}
"""


def test_topology_show_prints_each_cluster_and_rank(tmp_path):
    (tmp_path / "topology.yaml").write_text(TOPO)
    r = run_odyssai("topology", "show", env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "lab" in r.stdout and "rank 1: b" in r.stdout


def test_topology_validate_names_a_one_sided_cable_and_exits_non_zero(tmp_path):
    (tmp_path / "topology.yaml").write_text(TOPO)
    r = run_odyssai("topology", "validate", "lab", env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode == 1
    assert "one-sided cable: a -> b (rdma_en2) is not seen from b" in r.stderr


def test_an_unknown_cluster_is_a_one_line_error(tmp_path):
    (tmp_path / "topology.yaml").write_text(TOPO)
    r = run_odyssai("topology", "show", "nope", env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "no cluster 'nope'" in r.stderr


def test_a_malformed_topology_is_reported_without_a_traceback(tmp_path):
    (tmp_path / "topology.yaml").write_text("clusters: [\n")
    r = run_odyssai("topology", "validate", env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode == 2 and "YAML syntax error" in r.stderr and "Traceback" not in r.stderr


def test_config_show_masks_the_api_key(tmp_path):
    r = run_odyssai("config", "show", env={"ODYSSAI_HOME": str(tmp_path), "ODYSSAI_API_KEY": "sk-hidden"})
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert data["api_key"] == "**********" and "sk-hidden" not in r.stdout


def test_plugins_lists_the_installed_transports(tmp_path):
    r = run_odyssai("plugins", env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode == 0 and "odyssai-transport-ring" in r.stdout


def test_topology_validate_accepts_a_ring_wiring_of_four_nodes(tmp_path):
    ring = """\
clusters:
  ring4:
    nodes:
      - {name: a, host: 10.0.0.1}
      - {name: b, host: 10.0.0.2}
      - {name: c, host: 10.0.0.3}
      - {name: d, host: 10.0.0.4}
    rdma_to:
      a: {b: rdma_en2, d: rdma_en3}
      b: {a: rdma_en2, c: rdma_en3}
      c: {b: rdma_en2, d: rdma_en3}
      d: {c: rdma_en2, a: rdma_en3}
"""
    (tmp_path / "topology.yaml").write_text(ring)
    r = run_odyssai("topology", "validate", "ring4", env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
