"""``odyssai cluster ...`` end to end on a real topology.yaml: each change, what it refuses, and
that the other cluster of the file is never touched.

The commands run in a throwaway Typer app that mounts ``cluster_app`` as ``odyssai.cli`` will.
No server listens on ``ODYSSAI_PORT`` here, so the "is it loaded?" question finds nobody and
the change goes on (``test_configurator_loaded.py`` covers a server that has it loaded).
"""

from __future__ import annotations

import json
import os
import stat

import pytest
import typer
import yaml
from typer.testing import CliRunner

from odyssai.cli_cluster import cluster_app, doctor_command
from support.server import free_port

OTHER = """\
clusters:
  other:   # never touched by these tests
    backend: jaccl
    models_dir: /Volumes/models
    port_base: 40000
    nodes:
      - {name: m1, host: 10.9.0.1, user: admin, python: /opt/odyssai/bin/python, reboot_command: "sudo reboot"}
      - {name: m2, host: studio-2.local, ip: 10.9.0.2, port: 2222}
    rdma_to:
      m1: {m2: rdma_en3}
      m2: {m1: rdma_en3}
"""


def cli(home, *args: str, input: str | None = None):
    app = typer.Typer()
    app.add_typer(cluster_app, name="cluster")
    app.command("doctor")(doctor_command)
    env = {"ODYSSAI_HOME": str(home), "ODYSSAI_PORT": str(free_port()), "COLUMNS": "250"}
    return CliRunner().invoke(app, list(args), env=env, input=input)


@pytest.fixture
def home(tmp_path):
    (tmp_path / "topology.yaml").write_text(OTHER)
    return tmp_path


def clusters(home) -> dict:
    return yaml.safe_load((home / "topology.yaml").read_text())["clusters"]


def other_yaml(home) -> str:
    return yaml.safe_dump(clusters(home)["other"], sort_keys=False)


def create_lab(home):
    r = cli(home, "cluster", "create", "lab", "--backend", "ring", "--node", "a=root@10.0.0.1",
            "--node", "b=root@10.0.0.2:2222", "--python", "/opt/py/bin/python")
    assert r.exit_code == 0, r.output
    return r


def test_create_writes_the_nodes_in_rank_order_and_keeps_a_backup(home):
    r = create_lab(home)
    lab = clusters(home)["lab"]
    nodes = [(n["name"], n["host"], n.get("port", 22)) for n in lab["nodes"]]
    assert nodes == [("a", "10.0.0.1", 22), ("b", "10.0.0.2", 2222)]
    assert lab["nodes"][0]["python"] == "/opt/py/bin/python" and lab["backend"] == "ring"
    assert "backup: topology.yaml.bak-" in r.stdout and list(home.glob("topology.yaml.bak-*"))


def test_add_node_then_remove_node_gives_the_cluster_back(home):
    create_lab(home)
    before = clusters(home)["lab"]
    r = cli(home, "cluster", "add-node", "lab", "c=admin@mac3.local", "--ip", "10.0.0.3")
    assert r.exit_code == 0 and "as rank 2" in r.stdout, r.output
    assert clusters(home)["lab"]["nodes"][2] == {"name": "c", "host": "mac3.local", "user": "admin", "ip": "10.0.0.3"}
    r = cli(home, "cluster", "remove-node", "lab", "c")
    assert r.exit_code == 0, r.output
    assert clusters(home)["lab"] == before


def test_set_backend_changes_only_the_backend(home):
    create_lab(home)
    before = clusters(home)["lab"]
    r = cli(home, "cluster", "set-backend", "lab", "jaccl")
    assert r.exit_code == 0, r.output
    assert clusters(home)["lab"] == before | {"backend": "jaccl"}


def test_set_backend_to_jaccl_without_wiring_warns_what_to_run_next(home):
    create_lab(home)
    r = cli(home, "cluster", "set-backend", "lab", "jaccl")
    assert "warning:" in r.stderr and "odyssai topology build lab" in r.stderr


def test_delete_with_yes_removes_the_cluster(home):
    create_lab(home)
    r = cli(home, "cluster", "delete", "lab", "--yes")
    assert r.exit_code == 0 and set(clusters(home)) == {"other"}, r.output


def test_delete_asks_first_and_no_keeps_the_cluster(home, monkeypatch):
    from odyssai import cli_errors

    create_lab(home)
    monkeypatch.setattr(cli_errors, "stdin_is_terminal", lambda: True)  # as at a terminal
    r = cli(home, "cluster", "delete", "lab", input="n\n")
    assert r.exit_code == 1 and "lab" in clusters(home) and "delete cluster lab (2 node(s))?" in r.output


def test_delete_without_a_terminal_and_without_yes_says_to_pass_yes_and_keeps_the_cluster(home):
    create_lab(home)
    r = cli(home, "cluster", "delete", "lab", input="y\n")   # CliRunner's stdin is no terminal
    assert r.exit_code == 1 and "lab" in clusters(home)
    assert "stdin is not a terminal: pass --yes to confirm" in r.stderr


def test_every_change_leaves_the_other_cluster_exactly_as_it_was(home):
    before = other_yaml(home)
    steps = [["cluster", "create", "lab", "--backend", "ring", "--node", "a=10.0.0.1"],
             ["cluster", "add-node", "lab", "b=root@10.0.0.2"], ["cluster", "set-backend", "lab", "jaccl"],
             ["cluster", "remove-node", "lab", "b"], ["cluster", "delete", "lab", "--yes"]]
    for step in steps:
        assert cli(home, *step).exit_code == 0, step
        assert other_yaml(home) == before, step


def test_the_file_stays_mode_0600(home):
    create_lab(home)
    assert stat.S_IMODE(os.stat(home / "topology.yaml").st_mode) == 0o600


def test_list_json_gives_every_cluster_with_its_nodes_in_rank_order(home):
    create_lab(home)
    data = json.loads(cli(home, "cluster", "list", "--json").stdout)
    by_name = {c["name"]: c for c in data["clusters"]}
    assert [n["name"] for n in by_name["lab"]["nodes"]] == ["a", "b"] and by_name["other"]["backend"] == "jaccl"


def test_list_shows_a_table_of_clusters(home):
    create_lab(home)
    r = cli(home, "cluster", "list")
    assert r.exit_code == 0 and "a=root@10.0.0.1:22" in r.stdout and "other" in r.stdout


# --- refusals: one line, a non-zero exit, the file unchanged ---------------------------------

REFUSED = [
    (["cluster", "create", "bad;name", "--backend", "ring", "--node", "a=10.0.0.1"], "cluster name 'bad;name'"),
    (["cluster", "create", "lab2", "--backend", "ring", "--node", "a b=10.0.0.1"], "node name 'a b'"),
    (["cluster", "create", "lab2", "--backend", "ring", "--node", "a=root@10.0.0.1;reboot"], "host"),
    (["cluster", "create", "lab2", "--backend", "ring", "--node", "a=$(id)@10.0.0.1"], "user"),
    (["cluster", "add-node", "other", "m3=root@10.9.0.3`reboot`"], "host"),
    (["cluster", "set-backend", "other", "ring&&reboot"], "backend 'ring&&reboot'"),
    (["cluster", "create", "other", "--backend", "ring", "--node", "a=10.0.0.1"], "already exists"),
    (["cluster", "add-node", "other", "m2=10.9.0.9"], "already has a node 'm2'"),
    (["cluster", "create", "lab2", "--backend", "ring", "--node", "x=10.0.0.1", "--node", "x=10.0.0.2"], "given twice"),
    (["cluster", "remove-node", "other", "m9"], "no node 'm9'"),
    (["cluster", "delete", "nope", "--yes"], "no cluster 'nope'"),
]


@pytest.mark.parametrize("args, says", REFUSED, ids=[" ".join(a[1:3]) for a, _ in REFUSED])
def test_a_hostile_duplicate_or_unknown_name_is_refused_in_one_line(home, args, says):
    before = (home / "topology.yaml").read_bytes()
    r = cli(home, *args)
    assert r.exit_code == 1, r.output
    assert says in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    assert (home / "topology.yaml").read_bytes() == before


def test_a_backend_no_plugin_provides_is_refused_with_the_pip_hint(home):
    r = cli(home, "cluster", "create", "lab", "--backend", "carrier-pigeon", "--node", "a=10.0.0.1")
    assert r.exit_code == 2 and "pip install odyssai-transport-carrier-pigeon" in r.stderr
    assert set(clusters(home)) == {"other"}
