"""``odyssai doctor`` as a command, on nodes of this machine (``spawner: local``): its JSON, its
exit code, and its one-line errors. Over SSH it is ``test_doctor_testbed.py``."""

from __future__ import annotations

import json
import sys

import pytest
import typer
from typer.testing import CliRunner

from odyssai import cli as odyssai_cli
from odyssai.cli_cluster import doctor_command
from odyssai.doctor import builtin_checks
from odyssai.topology import Cluster, Node, save_clusters


@pytest.fixture(scope="module", autouse=True)
def core_checks():
    """Core's checks in the CLI's plugin manager, until ``odyssai.builtin`` registers them."""
    pm = odyssai_cli.plugin_manager()
    if "python" not in pm.doctor_checks.names():
        for check in builtin_checks():
            pm.doctor_checks.add(check, "odyssai")


def local(name: str, **kw) -> Node:
    return Node(**({"name": name, "host": "localhost", "spawner": "local", "python": sys.executable} | kw))


def doctor(home, *args: str):
    app = typer.Typer()
    app.command("doctor")(doctor_command)
    app.command("unused")(lambda: None)  # two commands: "doctor" stays a sub-command
    return CliRunner().invoke(app, ["doctor", *args], env={"ODYSSAI_HOME": str(home), "HOME": str(home),
                                                           "COLUMNS": "250"})


def test_json_lists_every_finding_with_node_check_status_message_and_fix(tmp_path):
    save_clusters(tmp_path / "topology.yaml", {"lab": Cluster(nodes=[local("a", models_dir=str(tmp_path))])})
    r = doctor(tmp_path, "lab", "--json")
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and data["ok"] and data["clusters"][0]["cluster"] == "lab"
    assert set(data["clusters"][0]["findings"][0]) == {"node", "check", "status", "message", "fix", "facts"}


def test_a_models_dir_under_home_is_looked_for_in_the_nodes_home(tmp_path):
    (tmp_path / "models").mkdir()
    save_clusters(tmp_path / "topology.yaml", {"lab": Cluster(nodes=[local("a", models_dir="~/models")])})
    data = json.loads(doctor(tmp_path, "lab", "--json").stdout)
    [models] = [f for f in data["clusters"][0]["findings"] if f["check"] == "models_dir"]
    assert models["status"] == "ok" and models["facts"]["path"] == f"{tmp_path}/models"


def test_doctor_without_a_cluster_checks_every_cluster(tmp_path):
    save_clusters(tmp_path / "topology.yaml", {"one": Cluster(nodes=[local("a", models_dir=str(tmp_path))]),
                                               "two": Cluster(nodes=[local("b", models_dir=str(tmp_path))])})
    data = json.loads(doctor(tmp_path, "--json").stdout)
    assert [c["cluster"] for c in data["clusters"]] == ["one", "two"]


def test_a_node_that_would_fail_to_load_exits_non_zero(tmp_path):
    save_clusters(tmp_path / "topology.yaml", {"lab": Cluster(nodes=[local("a", python="/nonexistent/python3")])})
    r = doctor(tmp_path, "lab")
    assert r.exit_code == 1 and "would fail on a" in r.stdout


def test_an_unknown_cluster_is_a_one_line_error(tmp_path):
    save_clusters(tmp_path / "topology.yaml", {"lab": Cluster(nodes=[local("a")])})
    r = doctor(tmp_path, "nope")
    assert r.exit_code == 1 and "no cluster 'nope'" in r.stderr and r.stderr.strip().count("\n") == 0
