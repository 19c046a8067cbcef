"""The odyssai command line: plugins, topology, config; errors as one line and an exit code."""

from __future__ import annotations

import json

from odyssai import hookimpl
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


def test_topology_validate_names_two_clusters_whose_ring_ports_clash_on_a_shared_node(tmp_path):
    (tmp_path / "topology.yaml").write_text("""\
clusters:
  alpha:
    port_base: 40000
    nodes: [{name: a, host: 10.0.0.1}, {name: b, host: 10.0.0.2}]
  beta:
    port_base: 40000
    nodes: [{name: a, host: 10.0.0.1}, {name: c, host: 10.0.0.3}]
""")
    r = run_odyssai("topology", "validate", "beta", env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode == 1
    assert "clusters 'beta' and 'alpha' would both listen on port 40000 on node a" in r.stderr


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
    piped = run_odyssai("plugins", env={"ODYSSAI_HOME": str(tmp_path), "COLUMNS": ""})  # no width given
    assert "odyssai-discovery-tb5" in piped.stdout  # not cut to rich's 80 columns ("odyssai-disco…")


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


# --- topology rebuild: one probe, and what is written is what was shown ----------------------

FAKE_WIRING = """\
import json, os
from pathlib import Path

from odyssai import hookimpl
from odyssai.discovery import Cable, Discoverer, Probe


class FakeWiring(Discoverer):
    '''Probe n answers wiring-<n>.json if there is one, else the last one; counts its probes.'''

    name = "fake-wiring"

    async def probe(self, cluster_name, cluster, run):
        state = Path(os.environ["FAKE_WIRING_DIR"])
        n = int((state / "probes").read_text()) + 1 if (state / "probes").exists() else 1
        (state / "probes").write_text(str(n))
        edit = state / f"edit-{n}.yaml"
        if edit.exists():  # someone changes topology.yaml while this probe runs
            Path(os.environ["ODYSSAI_HOME"], "topology.yaml").write_text(edit.read_text())
        files = sorted(state.glob("wiring-*.json"), key=lambda p: int(p.stem.split("-")[1]))
        chosen = next((p for p in files if int(p.stem.split("-")[1]) == n), files[-1])
        return Probe(cables=[Cable(*c) for c in json.loads(chosen.read_text())])


@hookimpl
def odyssai_register_discoverers(register):
    register(FakeWiring())
"""

TWO = """\
clusters:
  lab:
    backend: ring
    nodes:
      - {name: a, host: 10.0.0.1}
      - {name: b, host: 10.0.0.2}
"""

SHOWN = [["a", "en2", "b", "en2"], ["b", "en2", "a", "en2"]]
LATER = [["a", "en3", "b", "en3"], ["b", "en3", "a", "en3"]]


def fake_wiring_home(tmp_path, *probes: list) -> tuple:
    from support.dists import install_dist

    site, state, home = tmp_path / "site", tmp_path / "state", tmp_path / "home-with-a-long-name-" / ("x" * 40)
    install_dist(site, "fake-wiring", "fake_wiring", "fake_wiring", FAKE_WIRING)
    state.mkdir()
    home.mkdir(parents=True)
    for i, cables in enumerate(probes, 1):
        (state / f"wiring-{i}.json").write_text(json.dumps(cables))
    (home / "topology.yaml").write_text(TWO)
    env = {"ODYSSAI_HOME": str(home), "FAKE_WIRING_DIR": str(state), "ODYSSAI_DISABLE_PLUGINS": "discovery_tb5",
           "ODYSSAI_LOG_LEVEL": "warning"}
    return site, state, home, env


def odyssai_without_terminal(*args: str, site=None, env=None, columns: int = 250):
    """The real CLI with stdin on /dev/null, as under a script or CI."""
    import os
    import subprocess
    import sys

    e = dict(os.environ) | {"COLUMNS": str(columns)} | (env or {})
    if site is not None:
        e["PYTHONPATH"] = str(site) + os.pathsep + e.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "odyssai.cli", *args], capture_output=True, text=True,
                          env=e, stdin=subprocess.DEVNULL, timeout=120)


def test_rebuild_writes_the_wiring_it_showed_even_if_a_second_probe_would_differ(tmp_path):
    from odyssai.topology import load_topology

    site, state, home, env = fake_wiring_home(tmp_path, SHOWN, LATER)
    r = odyssai_without_terminal("topology", "rebuild", "lab", "--yes", site=site, env=env)
    assert r.returncode == 0, r.stderr
    assert "+ a rdma_en2 <-> b rdma_en2" in r.stdout
    assert load_topology(home / "topology.yaml").cluster("lab").rdma_to == {"a": {"b": "rdma_en2"},
                                                                          "b": {"a": "rdma_en2"}}
    assert (state / "probes").read_text() == "1"


def test_rebuild_prints_the_written_file_and_its_backup_on_one_line(tmp_path):
    site, _state, home, env = fake_wiring_home(tmp_path, SHOWN)
    r = odyssai_without_terminal("topology", "rebuild", "lab", "--yes", site=site, env=env, columns=40)
    assert r.returncode == 0, r.stderr
    [wrote] = [line for line in r.stdout.splitlines() if line.startswith("wrote ")]
    assert wrote.startswith(f"wrote {home / 'topology.yaml'} (backup: {home}/topology.yaml.bak-")
    assert wrote.endswith(")")


def test_rebuild_writes_nothing_when_the_cluster_changed_in_the_file_after_the_probe(tmp_path):
    site, state, home, env = fake_wiring_home(tmp_path, SHOWN)
    edited = TWO + "    rdma_to:\n      a: {b: rdma_en7}\n      b: {a: rdma_en7}\n"
    (state / "edit-1.yaml").write_text(edited)
    r = odyssai_without_terminal("topology", "rebuild", "lab", "--yes", site=site, env=env)
    assert r.returncode != 0 and "changed in" in r.stderr and "nothing was written" in r.stderr
    assert (home / "topology.yaml").read_text() == edited


def test_rebuild_without_a_terminal_and_without_yes_says_to_pass_yes(tmp_path):
    site, _state, home, env = fake_wiring_home(tmp_path, SHOWN)
    r = odyssai_without_terminal("topology", "rebuild", "lab", site=site, env=env)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0
    assert "stdin is not a terminal: pass --yes to confirm" in r.stderr and "Traceback" not in r.stderr
    assert (home / "topology.yaml").read_text() == TWO


def test_reboot_without_a_terminal_and_without_yes_says_to_pass_yes_and_calls_no_server(tmp_path):
    r = odyssai_without_terminal("reboot", "lab", "--server", "http://127.0.0.1:9", env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode != 0 and r.stderr.strip().count("\n") == 0
    assert "stdin is not a terminal: pass --yes to confirm" in r.stderr
    assert "rebooting" not in r.stdout


def test_cluster_delete_without_a_terminal_and_without_yes_says_to_pass_yes(tmp_path):
    (tmp_path / "topology.yaml").write_text(TWO)
    env = {"ODYSSAI_HOME": str(tmp_path), "ODYSSAI_PORT": "9"}
    r = odyssai_without_terminal("cluster", "delete", "lab", env=env)
    assert r.returncode != 0 and r.stderr.strip().count("\n") == 0
    assert "stdin is not a terminal: pass --yes to confirm" in r.stderr
    assert (tmp_path / "topology.yaml").read_text() == TWO


# --- the real command line -------------------------------------------------------------------

def test_the_real_odyssai_command_mounts_cluster_doctor_topology_and_reboot(tmp_path):
    r = run_odyssai("--help", env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    listed = {line.split()[1] for line in r.stdout.splitlines() if line.startswith("│ ") and len(line.split()) > 1}
    assert {"cluster", "doctor", "topology", "reboot"} <= listed, r.stdout


def test_the_real_odyssai_app_runs_cluster_list_and_doctor_in_process(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from odyssai import cli

    monkeypatch.setenv("ODYSSAI_HOME", str(tmp_path))
    app = cli.build_app()
    assert CliRunner().invoke(app, ["cluster", "list"]).output.startswith("no clusters in")
    assert CliRunner().invoke(app, ["doctor"]).exit_code == 0
    assert CliRunner().invoke(app, ["reboot", "--help"]).exit_code == 0


# --- a plugin whose odyssai_cli raises -------------------------------------------------------

class BrokenCli:
    __name__ = "broken-cli"

    @hookimpl
    def odyssai_cli(self, app):
        raise RuntimeError("the plugin's own bug")


class GoodCli:
    __name__ = "good-cli"

    @hookimpl
    def odyssai_cli(self, app):
        @app.command("hello")
        def hello() -> None:
            print("hello from a plugin")


def test_a_plugin_whose_cli_hook_raises_is_named_in_a_warning_and_the_others_still_mount(capsys):
    import typer
    from typer.testing import CliRunner

    from odyssai.cli import extend_cli
    from odyssai.plugins import get_plugin_manager

    pm = get_plugin_manager(entry_points=False, extra=(BrokenCli(), GoodCli()))
    app = typer.Typer()
    app.command("other")(lambda: None)
    [warning] = extend_cli(pm, app)
    assert warning == "plugin broken-cli could not add its commands: odyssai_cli raised RuntimeError: the plugin's own bug"
    assert capsys.readouterr().err.strip() == f"warning: {warning}"
    assert [(f.name, f.error) for f in pm.failures] == [("broken-cli", "odyssai_cli raised RuntimeError: the plugin's own bug")]
    assert CliRunner().invoke(app, ["hello"]).output == "hello from a plugin\n"


def test_an_installed_plugin_whose_cli_hook_raises_does_not_break_other_commands(tmp_path):
    from support.dists import install_dist

    site = tmp_path / "site"
    install_dist(site, "odyssai-broken-cli", "broken_cli", "broken_cli", """\
        from odyssai import hookimpl

        @hookimpl
        def odyssai_cli(app):
            raise RuntimeError("boom")
    """)
    r = run_odyssai("topology", "show", site=site, env={"ODYSSAI_HOME": str(tmp_path)})
    assert r.returncode == 0 and "no clusters in" in r.stdout
    assert "Traceback" not in r.stderr
    [warning] = [line for line in r.stderr.splitlines() if "broken_cli" in line]
    assert warning == "warning: plugin broken_cli (odyssai-broken-cli) could not add its commands: " \
                      "odyssai_cli raised RuntimeError: boom"
    listed = run_odyssai("plugins", "--json", site=site, env={"ODYSSAI_HOME": str(tmp_path)})
    assert {"name": "broken_cli", "distribution": "odyssai-broken-cli",
            "error": "odyssai_cli raised RuntimeError: boom"} in json.loads(listed.stdout)["failed"]
