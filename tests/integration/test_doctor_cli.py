"""``odyssai doctor`` as a command, on nodes of this machine (``spawner: local``): its JSON, its
exit code, and its one-line errors. Over SSH it is ``test_doctor_testbed.py``."""

from __future__ import annotations

import json
import sys

import typer
from typer.testing import CliRunner

from odyssai import cli as odyssai_cli
from odyssai.cli_cluster import doctor_command
from odyssai.topology import Cluster, Node, save_clusters


def local(name: str, **kw) -> Node:
    return Node(**({"name": name, "host": "localhost", "spawner": "local", "python": sys.executable} | kw))


def doctor(home, *args: str, real_cli: bool = False):
    if real_cli:  # the ``odyssai`` app itself, as the console script builds it
        app = odyssai_cli.build_app()
    else:
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
    (tmp_path / "models" / "tiny-model").mkdir(parents=True)
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


def test_the_real_odyssai_app_has_doctor_with_core_checks_registered_by_odyssai_builtin(tmp_path):
    save_clusters(tmp_path / "topology.yaml", {"lab": Cluster(nodes=[local("a", models_dir=str(tmp_path))])})
    r = doctor(tmp_path, "lab", "--json", real_cli=True)
    assert r.exit_code == 0, r.output
    checks = {f["check"] for f in json.loads(r.stdout)["clusters"][0]["findings"]}
    assert {"python", "packages", "mlx", "models_dir", "disk", "memory", "transport"} <= checks
    assert {"python", "resources", "transport"} <= set(odyssai_cli.plugin_manager().doctor_checks.names())
