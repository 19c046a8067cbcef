"""``odyssai cluster ...`` refuses to change a cluster that a running server has loaded.

A real ``odyssai serve`` loads a tiny Llama on a 2-node testbed cluster ``busy`` (over SSH, real
runners); the CLI, pointed at that server by ODYSSAI_HOME/ODYSSAI_PORT, asks it before writing.
"""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from odyssai.cli_cluster import cluster_app
from odyssai.topology import save_clusters
from support.nodes import sub_cluster, wait_no_runners
from support.server import Server
from support.tinymodels import build_llama

pytestmark = [pytest.mark.testbed]


@pytest.fixture(scope="module")
def loaded(module_testbed_factory, tmp_path_factory):
    """A server whose cluster ``busy`` serves tiny-llama; ``spare`` (same nodes) is not loaded."""
    tb = module_testbed_factory(2)
    for node in tb.node_names:
        build_llama(tb.node_dir(node) / "models", "tiny-llama")
    home = tmp_path_factory.mktemp("home")
    save_clusters(home / "topology.yaml", {"busy": sub_cluster(tb, tb.node_names),
                                           "spare": sub_cluster(tb, tb.node_names)})
    srv = Server(home)
    try:
        r = srv.http.post("/admin/busy/load", params={"wait": "true"}, json={"model": "tiny-llama"})
        assert r.status_code == 200, r.text
        yield srv
    finally:
        srv.stop()
        assert wait_no_runners(tb) == {}


def cli(srv, *args: str):
    app = typer.Typer()
    app.add_typer(cluster_app, name="cluster")
    env = {"ODYSSAI_HOME": str(srv.home), "ODYSSAI_PORT": str(srv.port), "COLUMNS": "250"}
    return CliRunner().invoke(app, list(args), env=env)


def test_remove_node_of_a_loaded_cluster_is_refused_in_one_line(loaded):
    before = (loaded.home / "topology.yaml").read_bytes()
    r = cli(loaded, "cluster", "remove-node", "busy", "node2")
    assert r.exit_code == 1, r.output
    assert "cluster busy is idle on the server at" in r.stderr and "odyssai unload busy" in r.stderr
    assert r.stderr.strip().count("\n") == 0
    assert (loaded.home / "topology.yaml").read_bytes() == before


def test_delete_of_a_loaded_cluster_is_refused(loaded):
    r = cli(loaded, "cluster", "delete", "busy", "--yes")
    assert r.exit_code == 1 and "cannot be changed while loaded" in r.stderr


def test_a_cluster_the_same_server_has_not_loaded_can_still_change(loaded):
    r = cli(loaded, "cluster", "set-backend", "spare", "ring")
    assert r.exit_code == 0, r.output
    assert loaded.status("busy")["phase"] == "idle"
