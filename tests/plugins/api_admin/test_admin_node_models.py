"""Listing the models of nodes: the sh line (run by a real sh here) and the intersection."""

from __future__ import annotations

import asyncio
import json
import subprocess

from odyssai.topology import Cluster, Node
from odyssai_api_admin.node_models import (NO_DIR, cluster_models, common_models, list_command, parse_listing,
                                           quote_dir)


def make_models(root, *names):
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "config.json").write_text(json.dumps({"model_type": "llama"}))


def sh(line: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", line], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env})


def test_the_listing_prints_model_dirs_one_or_two_levels_deep_and_nothing_else(tmp_path):
    make_models(tmp_path, "tiny", "org/big", ".hidden")
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "file.txt").write_text("x")
    r = sh(list_command(str(tmp_path)))
    assert r.returncode == 0 and sorted(r.stdout.split()) == ["org/big", "tiny"]


def test_an_empty_models_dir_lists_nothing_and_a_missing_one_says_so(tmp_path):
    assert sh(list_command(str(tmp_path))).stdout == ""
    assert sh(list_command(str(tmp_path / "nope"))).returncode == NO_DIR


def test_a_leading_tilde_is_the_remote_users_home_and_the_rest_stays_quoted(tmp_path):
    make_models(tmp_path / "my models", "tiny")
    assert quote_dir("~/my models") == "\"$HOME\"/'my models'"
    assert sh(list_command("~/my models"), HOME=str(tmp_path)).stdout.split() == ["tiny"]
    assert quote_dir("/a;rm -rf x") == "'/a;rm -rf x'"


def test_only_valid_model_names_are_kept():
    assert parse_listing("b\na\na\n../x\nbad name\n") == ["a", "b"]


def test_a_model_counts_when_every_node_has_it_and_none_when_a_node_could_not_be_asked():
    nodes = [{"models": ["a", "b"], "error": None}, {"models": ["b", "c"], "error": None}]
    assert common_models(nodes) == ["b"]
    assert common_models(nodes + [{"models": [], "error": "unreachable"}]) == []


def test_a_cluster_of_local_nodes_is_listed_without_ssh(tmp_path):
    make_models(tmp_path / "n1", "tiny", "only-here")
    make_models(tmp_path / "n2", "tiny")
    spec = Cluster(nodes=[Node(name="n1", host="localhost", spawner="local", models_dir=str(tmp_path / "n1")),
                          Node(name="n2", host="localhost", spawner="local", models_dir=str(tmp_path / "n2")),
                          Node(name="n3", host="localhost", spawner="local", models_dir=str(tmp_path / "n3"))])
    out = asyncio.run(cluster_models(spec))
    assert [(n["node"], n["models"]) for n in out["nodes"]] == [("n1", ["only-here", "tiny"]), ("n2", ["tiny"]),
                                                                ("n3", [])]
    assert "does not exist on n3" in out["nodes"][2]["error"] and out["models"] == []
    spec.nodes.pop()
    assert asyncio.run(cluster_models(spec))["models"] == ["tiny"]
