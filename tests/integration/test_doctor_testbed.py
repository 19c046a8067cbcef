"""``odyssai doctor`` over real SSH on a 3-node testbed: green when healthy, and each way a node
would fail to load found, named, and exiting non-zero.

The commands run in the real ``odyssai`` app (``odyssai.cli.build_app()``, in-process). How each
broken node is made:

- sshd down: its sshd process, found among the node namespace's pids, is killed (SIGKILL) and
  started again afterwards;
- unknown host key: the node's ``known_hosts`` is an empty file;
- wrong python: the node's ``python`` is a path that does not exist;
- no models_dir: the node's ``models_dir`` is a directory that does not exist;
- a plugin that does not import: the node's ``python`` is a wrapper that puts a package of the
  same name as the cluster's transport plugin first on ``PYTHONPATH``, and it raises on import;
- another MLX: the node's ``python`` is a throwaway venv (``uv venv``) with a *real*
  ``mlx[cpu]==<another version>`` installed by ``uv pip install``, and the orchestrator's
  site-packages after it (a ``.pth``) for odyssai and the plugins. When uv cannot install it
  (no registry, no cache), the venv gets a hand-written ``mlx-<version>.dist-info`` instead:
  doctor reads versions with ``importlib.metadata`` either way. ``OTHER_MLX_HOW`` says which.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from odyssai import cli as odyssai_cli
from odyssai.topology import save_clusters
from odyssai_testbed.sshd import start_sshd

pytestmark = [pytest.mark.testbed]
OTHER_MLX_HOW: dict[str, str] = {}


@pytest.fixture(scope="module")
def tb(module_testbed_factory):
    tb = module_testbed_factory(3)
    for node in tb.node_names:  # a models_dir with nothing in it is a warning
        (tb.node_dir(node) / "models" / "tiny-model").mkdir(parents=True, exist_ok=True)
    return tb


def cli(home: Path, *args: str):
    """The real ``odyssai`` app: core's checks come from ``odyssai.builtin``'s registration."""
    return CliRunner().invoke(odyssai_cli.build_app(), list(args),
                              env={"ODYSSAI_HOME": str(home), "COLUMNS": "250"})


def doctor_json(home: Path, cluster: str = "lab") -> tuple[int, dict]:
    r = cli(home, "doctor", cluster, "--json")
    return r.exit_code, json.loads(r.stdout)["clusters"][0]


def with_node(tb, home: Path, node: str, **change) -> Path:
    """Write cluster 'lab' = the testbed, with ``change`` made to ``node``."""
    cluster = tb.cluster()
    i = tb.node_names.index(node)
    cluster.nodes[i] = cluster.nodes[i].model_copy(update=change)
    save_clusters(home / "topology.yaml", {"lab": cluster})
    return home


def findings(report: dict, node: str, check: str) -> list[dict]:
    return [f for f in report["findings"] if f["node"] == node and f["check"] == check]


# --- healthy ---------------------------------------------------------------------------------

def test_a_cluster_built_with_the_cli_on_a_healthy_testbed_is_all_green(tb, tmp_path):
    ssh = ["--python", sys.executable, "--identity-file", str(tb.identity_file), "--known-hosts", str(tb.known_hosts)]
    first, *rest = tb.node_names
    r = cli(tmp_path, "cluster", "create", "lab", "--backend", "ring", "--node", f"{first}=root@{tb.node_ip(first)}",
            "--models-dir", str(tb.node_dir(first) / "models"), *ssh)
    assert r.exit_code == 0, r.output
    for node in rest:
        r = cli(tmp_path, "cluster", "add-node", "lab", f"{node}=root@{tb.node_ip(node)}",
                "--models-dir", str(tb.node_dir(node) / "models"), *ssh)
        assert r.exit_code == 0, r.output
    code, report = doctor_json(tmp_path)
    assert code == 0 and report["ok"], [f for f in report["findings"] if f["status"] != "ok"]
    assert all(f["status"] == "ok" for f in report["findings"])
    assert {f["node"] for f in report["findings"]} == {*tb.node_names, None}


def test_the_table_says_every_node_would_load(tb, tmp_path):
    save_clusters(tmp_path / "topology.yaml", {"lab": tb.cluster()})
    r = cli(tmp_path, "doctor")
    assert r.exit_code == 0 and "every node would load" in r.stdout, r.output


# --- each way to fail ------------------------------------------------------------------------

def sshd_pids(tb, node: str) -> list[int]:
    out = []
    for pid in tb.pids(node):
        try:
            if b"sshd" in Path(f"/proc/{pid}/cmdline").read_bytes():
                out.append(pid)
        except OSError:
            pass
    return out


def test_a_node_whose_sshd_is_down_is_named_unreachable(tb, tmp_path):
    node = tb.node_names[2]
    save_clusters(tmp_path / "topology.yaml", {"lab": tb.cluster()})
    pids = sshd_pids(tb, node)
    assert pids, f"no sshd found in {node}'s namespace"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    try:
        deadline = time.monotonic() + 10
        while tb.ssh_answers(node):
            assert time.monotonic() < deadline, f"{node}'s sshd still answers after SIGKILL"
            time.sleep(0.05)
        code, report = doctor_json(tmp_path)
    finally:
        start_sshd(tb.record.state_dir, node, tb.namespace(node))
        tb.wait_ssh(node)
    [ssh] = findings(report, node, "ssh")
    assert code == 1 and report["failing"] == [node]
    assert ssh["status"] == "fail" and "unreachable" in ssh["message"] and ssh["facts"]["reason"] == "unreachable"


def test_a_node_with_an_unknown_host_key_says_so_not_unreachable(tb, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    node = tb.node_names[1]
    code, report = doctor_json(with_node(tb, tmp_path, node, known_hosts=str(empty)))
    [ssh] = findings(report, node, "ssh")
    assert code == 1 and report["failing"] == [node]
    assert ssh["facts"]["reason"] == "host_key" and "host key" in ssh["message"]
    assert "unreachable" not in ssh["message"] and "ssh-keyscan" in ssh["fix"]
    assert ssh["fix"].endswith(f">> {empty}")   # the node's own known_hosts, not ~/.ssh/known_hosts


def test_a_node_whose_python_path_is_wrong_is_named(tb, tmp_path):
    node = tb.node_names[1]
    code, report = doctor_json(with_node(tb, tmp_path, node, python="/nonexistent/bin/python3"))
    [py] = findings(report, node, "python")
    assert code == 1 and report["failing"] == [node]
    assert py["status"] == "fail" and "/nonexistent/bin/python3" in py["message"] and "'python'" in py["fix"]


def test_a_node_missing_its_models_dir_is_named(tb, tmp_path):
    node = tb.node_names[0]
    missing = tmp_path / "no-such-models"
    code, report = doctor_json(with_node(tb, tmp_path, node, models_dir=str(missing)))
    [models] = findings(report, node, "models_dir")
    assert code == 1 and report["failing"] == [node]
    assert models["status"] == "fail" and str(missing) in models["message"]


def test_a_node_where_the_transport_plugin_does_not_import_is_named_with_the_error(tb, tmp_path):
    shadow = tmp_path / "shadow" / "odyssai_transport_ring"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('libfake.so: cannot open shared object file')\n")
    python = tmp_path / "python-with-a-broken-plugin"
    python.write_text(f"#!/bin/sh\nPYTHONPATH={shadow.parent} exec {sys.executable} \"$@\"\n")
    python.chmod(0o755)
    node = tb.node_names[1]
    code, report = doctor_json(with_node(tb, tmp_path, node, python=str(python)))
    [packages] = findings(report, node, "packages")
    assert code == 1 and report["failing"] == [node]
    assert packages["status"] == "fail" and "import odyssai_transport_ring.plugin fails: ImportError: libfake.so" \
        in packages["message"]
    assert "-c 'import odyssai_transport_ring.plugin'" in packages["fix"]


@pytest.fixture(scope="module")
def other_mlx(tmp_path_factory) -> tuple[str, str]:
    """(python, mlx version) of a venv whose mlx differs from ours; see the module docstring."""
    alt = "0.31.1" if md.version("mlx") != "0.31.1" else "0.30.0"
    venv = tmp_path_factory.mktemp("other-mlx") / "venv"
    uv = shutil.which("uv")
    assert uv, "uv is needed to make a venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = next((venv / "lib").glob("python*/site-packages"))
    r = subprocess.run([uv, "pip", "install", "-q", "--python", str(python), f"mlx[cpu]=={alt}"],
                       capture_output=True, text=True, timeout=300)
    OTHER_MLX_HOW["how"] = "uv pip install" if r.returncode == 0 else f"fake dist-info ({r.stderr.strip()[-200:]})"
    print(f"mlx {alt} for the odd node made by: {OTHER_MLX_HOW['how']}")
    if r.returncode != 0:
        info = site / f"mlx-{alt}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mlx\nVersion: {alt}\n")
    ours = sysconfig.get_paths()["purelib"]
    (site / "zz_orchestrator_site.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return str(python), alt


def test_a_node_whose_mlx_version_differs_is_named_with_both_versions(tb, tmp_path, other_mlx):
    python, alt = other_mlx
    node = tb.node_names[2]
    code, report = doctor_json(with_node(tb, tmp_path, node, python=python))
    [mlx] = findings(report, node, "mlx")
    assert code == 1 and report["failing"] == [node], OTHER_MLX_HOW
    assert mlx["status"] == "fail" and f"mlx {alt} here but {md.version('mlx')} on" in mlx["message"]
    assert all(f["status"] == "ok" for n in tb.node_names[:2] for f in findings(report, n, "mlx"))
