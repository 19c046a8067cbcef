"""Plugin loading: real entry points, the deny list, broken plugins, duplicate names, no-spec hooks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from odyssai import hookimpl
from odyssai.errors import PluginError, TransportMissing
from odyssai.plugins import get_plugin_manager
from odyssai.transport import Transport
from support.dists import install_dist, run_odyssai

ROOT = Path(__file__).resolve().parents[2]


def plugins_json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def throwaway_env(tmp_path_factory) -> Path:
    """A fresh virtual environment with only odyssai (from this checkout) installed."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build a throwaway environment (pip install uv)")
    env = tmp_path_factory.mktemp("env") / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(env)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(env / "bin" / "python"),
                    str(ROOT / "core")], check=True, timeout=600)
    return env


def test_an_installed_plugin_is_listed_with_its_hooks_and_gone_after_uninstall(throwaway_env):
    python = str(throwaway_env / "bin" / "python")
    uv = shutil.which("uv")
    before = plugins_json(run_odyssai("plugins", "--json", python=python))
    assert "odyssai-example" not in {p["distribution"] for p in before["plugins"]}

    subprocess.run([uv, "pip", "install", "-q", "--python", python,
                    str(ROOT / "tests" / "example_plugins" / "example")], check=True, timeout=600)
    during = plugins_json(run_odyssai("plugins", "--json", python=python))
    example = next(p for p in during["plugins"] if p["distribution"] == "odyssai-example")
    assert example["version"] == "0.0.7"
    assert example["hooks"] == ["odyssai_cli", "odyssai_litestar_plugins", "odyssai_register_transports"]
    assert example["registers"] == {"transport": ["example"]}
    help_text = run_odyssai("--help", python=python).stdout
    assert "example-hello" in help_text

    subprocess.run([uv, "pip", "uninstall", "-q", "--python", python, "odyssai-example"], check=True)
    after = plugins_json(run_odyssai("plugins", "--json", python=python))
    assert "odyssai-example" not in {p["distribution"] for p in after["plugins"]}


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_still_load(tmp_path):
    install_dist(tmp_path, "odyssai-broken", "broken", "odyssai_broken",
                 "raise ImportError('needs libfoo, which is not installed')\n")
    data = plugins_json(run_odyssai("plugins", "--json", site=tmp_path))
    assert data["failed"] == [{"name": "broken", "distribution": "odyssai-broken",
                               "error": "ImportError: needs libfoo, which is not installed"}]
    assert "odyssai-transport-ring" in {p["distribution"] for p in data["plugins"]}


def test_the_deny_list_disables_a_plugin_by_entry_point_or_distribution_name(tmp_path):
    listed = plugins_json(run_odyssai("plugins", "--json"))
    assert "transport_ring" in {p["name"] for p in listed["plugins"]}
    for denied in ("transport_ring", "odyssai-transport-ring"):
        data = plugins_json(run_odyssai("plugins", "--json", env={"ODYSSAI_DISABLE_PLUGINS": f"x, {denied}"}))
        assert "transport_ring" not in {p["name"] for p in data["plugins"]}


def test_two_distributions_registering_the_same_transport_name_is_an_error_naming_both(tmp_path):
    install_dist(tmp_path, "odyssai-other-ring", "other_ring", "odyssai_other_ring", """
        from odyssai import hookimpl
        from odyssai.transport import Transport

        class AnotherRing(Transport):
            name = "ring"

        @hookimpl
        def odyssai_register_transports(register):
            register(AnotherRing())
    """)
    result = run_odyssai("plugins", "--json", site=tmp_path)
    assert result.returncode == 3
    assert "transport 'ring' is registered twice" in result.stderr
    assert "odyssai-transport-ring" in result.stderr and "odyssai-other-ring" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_distributions_declaring_the_same_entry_point_name_is_a_failure_naming_both(tmp_path):
    for dist, module in (("odyssai-twin-a", "odyssai_twin_a"), ("odyssai-twin-b", "odyssai_twin_b")):
        install_dist(tmp_path, dist, "twin", module, f"""
            from odyssai import hookimpl
            from odyssai.transport import Transport

            class T(Transport):
                name = {module!r}

            @hookimpl
            def odyssai_register_transports(register):
                register(T())
        """)
    data = plugins_json(run_odyssai("plugins", "--json", site=tmp_path))
    [failure] = [f for f in data["failed"] if f["name"] == "twin"]
    loaded = next(p for p in data["plugins"] if p["name"] == "twin")["distribution"]
    assert {loaded, failure["distribution"]} == {"odyssai-twin-a", "odyssai-twin-b"}
    assert f"also declared by {loaded}" in failure["error"] and failure["distribution"] in failure["error"]
    assert "odyssai-transport-ring" in {p["distribution"] for p in data["plugins"]}


def test_disabling_one_of_two_clashing_distributions_loads_the_other(tmp_path):
    for dist, module in (("odyssai-twin-a", "odyssai_twin_a"), ("odyssai-twin-b", "odyssai_twin_b")):
        install_dist(tmp_path, dist, "twin", module, "")
    for denied, kept in (("odyssai-twin-a", "odyssai-twin-b"), ("odyssai-twin-b", "odyssai-twin-a")):
        data = plugins_json(run_odyssai("plugins", "--json", site=tmp_path, env={"ODYSSAI_DISABLE_PLUGINS": denied}))
        assert [f for f in data["failed"] if f["name"] == "twin"] == []
        assert next(p for p in data["plugins"] if p["name"] == "twin")["distribution"] == kept


def test_a_plugin_whose_register_hook_raises_is_reported_and_the_rest_still_load(tmp_path):
    install_dist(tmp_path, "odyssai-raises", "raises", "odyssai_raises", """
        from odyssai import hookimpl

        @hookimpl
        def odyssai_register_transports(register):
            raise RuntimeError("no config for the frobnicator")
    """)
    data = plugins_json(run_odyssai("plugins", "--json", site=tmp_path))
    assert data["failed"] == [{"name": "raises", "distribution": "odyssai-raises", "error":
                               "odyssai_register_transports raised RuntimeError: no config for the frobnicator"}]
    assert "raises" not in {p["name"] for p in data["plugins"]}
    assert "odyssai-transport-ring" in {p["distribution"] for p in data["plugins"]}


def test_a_plugin_whose_register_hook_raises_keeps_none_of_its_names():
    class Mine(Transport):
        name = "mine"

    class Plugin:
        @hookimpl
        def odyssai_register_transports(self, register):
            register(Mine())

        @hookimpl
        def odyssai_register_doctor_checks(self, register):
            raise ValueError("boom")

    pm = get_plugin_manager(entry_points=False, extra=(Plugin(),))
    assert [(f.name, f.error) for f in pm.failures] == [
        ("extra-0-Plugin", "odyssai_register_doctor_checks raised ValueError: boom")]
    assert "mine" not in pm.transports.names()
    assert not pm.has_plugin("extra-0-Plugin")
    assert pm.shard_strategies.get("single") is not None


def test_a_plugin_whose_cli_hook_raises_is_recorded_as_failed_and_the_others_add_their_commands():
    import typer

    class Broken:
        @hookimpl
        def odyssai_cli(self, app):
            raise RuntimeError("typer is too old")

    class Fine:
        @hookimpl
        def odyssai_cli(self, app):
            app.command("fine-hello")(lambda: None)

    pm = get_plugin_manager(entry_points=False, extra=(Broken(), Fine()))
    app = typer.Typer()
    pm.extend_cli(app)
    assert [(f.name, f.error) for f in pm.failures] == [
        ("extra-0-Broken", "odyssai_cli raised RuntimeError: typer is too old")]
    assert [c.name for c in app.registered_commands] == ["fine-hello"]


def test_a_hook_without_a_spec_is_rejected_naming_the_distribution(tmp_path):
    install_dist(tmp_path, "odyssai-typo", "typo", "odyssai_typo", """
        from odyssai import hookimpl

        @hookimpl
        def odyssai_register_transport(register):
            pass
    """)
    result = run_odyssai("plugins", site=tmp_path)
    assert result.returncode == 3
    assert "odyssai-typo" in result.stderr and "odyssai_register_transport" in result.stderr


def test_duplicate_shard_strategy_names_are_rejected_in_process():
    class Twin:
        name = "single"
        priority = 1

    class Plugin:
        @hookimpl
        def odyssai_register_shard_strategies(self, register):
            register(Twin())

    with pytest.raises(PluginError, match="shard strategy 'single' is registered twice"):
        get_plugin_manager(entry_points=False, extra=(Plugin(),))


def test_a_missing_transport_says_which_package_to_install():
    pm = get_plugin_manager(entry_points=False)
    with pytest.raises(TransportMissing) as e:
        pm.transport("jaccl")
    assert "transport 'jaccl' is not installed (pip install odyssai-transport-jaccl)" in str(e.value)


def test_a_selection_hook_overrides_the_default_strategy_choice():
    from odyssai.selection import choose_strategy
    from odyssai.sharding import ModelInfo, ShardStrategy

    class Anything(ShardStrategy):
        name, priority = "anything", 1

        def check(self, model, n_ranks):
            return None

    class Plugin:
        @hookimpl
        def odyssai_register_shard_strategies(self, register):
            register(Anything())

        @hookimpl
        def odyssai_select_shard_strategy(self, model, n_ranks, requested):
            return "anything"

    pm = get_plugin_manager(entry_points=False, extra=(Plugin(),))
    model = ModelInfo("m", {"model_type": "llama"})
    assert choose_strategy(pm, model, 1, None).name == "anything"


def test_plugin_registrations_go_through_a_register_callback_per_distribution():
    class T(Transport):
        name = "t-one"

    class Plugin:
        @hookimpl
        def odyssai_register_transports(self, register):
            register(T())

    pm = get_plugin_manager(entry_points=False, extra=(Plugin(),))
    assert pm.transport("t-one").name == "t-one"
    assert pm.transports.owner("t-one").startswith("extra-0")


def test_discoverers_remedies_and_doctor_checks_are_registered_and_shown_by_name():
    from odyssai.discovery import Discoverer
    from odyssai.remediation import Remedy

    class D(Discoverer):
        name = "d-one"

    class R(Remedy):
        name = "r-one"

    class C:
        name = "c-one"

    class Plugin:
        @hookimpl
        def odyssai_register_discoverers(self, register):
            register(D())

        @hookimpl
        def odyssai_register_remedies(self, register):
            register(R())

        @hookimpl
        def odyssai_register_doctor_checks(self, register):
            register(C())

    pm = get_plugin_manager(entry_points=False, extra=(Plugin(),))
    assert (pm.discoverers.names(), pm.remedies.names()) == (["d-one"], ["r-one"])
    assert "c-one" in pm.doctor_checks.names()
    info = next(i for i in pm.describe() if i.name.startswith("extra-0"))
    assert info.registers == {"discoverer": ["d-one"], "remedy": ["r-one"], "doctor check": ["c-one"]}
