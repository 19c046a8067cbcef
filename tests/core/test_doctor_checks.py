"""Doctor's engine and check interface, on nodes of this machine (``spawner: local``, no SSH).

A plugin's ``DoctorCheck`` is registered through ``odyssai_register_doctor_checks`` and runs on
the clusters it ``applies`` to; a check that crashes is a warning, not a traceback.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from odyssai import hookimpl
from odyssai.doctor import DoctorCheck, Finding, builtin_checks, diagnose
from odyssai.plugins import get_plugin_manager
from odyssai.topology import Cluster, Node


class JacclOnlyCheck(DoctorCheck):
    """What a jaccl plugin's check looks like: on Linux it says it cannot check."""

    name = "example-rdma"

    def applies(self, ctx):
        return ctx.cluster.backend == "jaccl"

    async def run(self, node, run, ctx):
        r = await run(["uname", "-s"])
        if r.stdout.strip() != "Darwin":
            return [Finding(node.name, self.name, "warn", f"cannot check on this OS ({r.stdout.strip()})")]
        return [Finding(node.name, self.name, "ok", "rdma_ctl status: enabled")]


class CrashingCheck(DoctorCheck):
    name = "example-crash"

    async def run(self, node, run, ctx):
        raise RuntimeError("plugin bug")


class ExamplePlugin:
    __name__ = "doctor-example-plugin"

    @hookimpl
    def odyssai_register_doctor_checks(self, register):
        register(JacclOnlyCheck())
        register(CrashingCheck())


@pytest.fixture(scope="module")
def pm():
    return get_plugin_manager(extra=(ExamplePlugin(),))


def local(name: str, tmp_path, **kw) -> Node:
    (tmp_path / "tiny-model").mkdir(exist_ok=True)  # an empty models_dir would be a warning
    fields = {"host": "localhost", "spawner": "local", "python": sys.executable, "models_dir": str(tmp_path)}
    return Node(name=name, **(fields | kw))


def doctor(cluster: Cluster, pm):
    return asyncio.run(diagnose("lab", cluster, pm))


def test_core_checks_are_registered_like_a_plugins(pm):
    assert {"python", "resources", "transport"} <= set(pm.doctor_checks.names())
    assert {pm.doctor_checks.owner(n) for n in ("python", "resources", "transport")} == {"odyssai"}
    assert [type(c) for c in builtin_checks()] == [type(pm.doctor_checks.get(n))
                                                   for n in ("python", "resources", "transport")]


def test_a_healthy_local_node_passes_every_core_check(pm, tmp_path):
    report = doctor(Cluster(nodes=[local("a", tmp_path)]), pm)
    core = [f for f in report.findings if not f.check.startswith("example")]
    assert {f.check for f in core} == {"ssh", "python", "packages", "mlx", "models_dir", "disk", "memory", "transport"}
    assert all(f.status == "ok" for f in core), [f for f in core if f.status != "ok"]


def test_a_plugin_check_runs_only_on_the_clusters_it_applies_to(pm, tmp_path):
    ring = doctor(Cluster(backend="ring", nodes=[local("a", tmp_path)]), pm)
    jaccl = doctor(Cluster(backend="jaccl", nodes=[local("a", tmp_path), local("b", tmp_path)]), pm)
    assert not [f for f in ring.findings if f.check == "example-rdma"]
    assert [(f.node, f.status) for f in jaccl.findings if f.check == "example-rdma"] == [("a", "warn"), ("b", "warn")]


def test_a_check_that_crashes_is_a_warning_naming_the_error(pm, tmp_path):
    report = doctor(Cluster(nodes=[local("a", tmp_path)]), pm)
    crash = [f for f in report.findings if f.check == "example-crash"]
    assert crash[0].status == "warn" and "RuntimeError: plugin bug" in crash[0].message


def test_findings_come_in_rank_order_with_the_cluster_last(pm, tmp_path):
    report = doctor(Cluster(nodes=[local("z", tmp_path), local("a", tmp_path)]), pm)
    order = list(dict.fromkeys(f.node for f in report.findings))
    assert order == ["z", "a", None]


def test_a_failing_node_makes_the_report_fail_and_is_named(pm, tmp_path):
    report = doctor(Cluster(nodes=[local("a", tmp_path), local("b", tmp_path, python="/nonexistent/python3")]), pm)
    assert not report.ok and report.failing() == ["b"]


def test_a_registered_object_that_is_no_doctor_check_is_a_warning_not_a_crash(pm, tmp_path):
    class NotACheck:
        name = "not-a-check"

    report = asyncio.run(diagnose("lab", Cluster(nodes=[local("a", tmp_path)]), pm, checks=[NotACheck()]))
    [warn] = [f for f in report.findings if f.check == "not-a-check"]
    assert warn.status == "warn" and warn.node is None and report.ok


def python_that_breaks(tmp_path, package: str) -> str:
    """A node's ``python``: ours, with a ``package`` earlier on its path that fails to import."""
    shadow = tmp_path / "shadow"
    (shadow / package).mkdir(parents=True)
    (shadow / package / "__init__.py").write_text("raise ImportError('libfake.so: cannot open shared object file')\n")
    wrapper = tmp_path / "python-with-a-broken-plugin"
    wrapper.write_text(f"#!/bin/sh\nPYTHONPATH={shadow} exec {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    return str(wrapper)


def test_a_node_where_the_clusters_transport_plugin_does_not_import_fails_naming_it(pm, tmp_path):
    python = python_that_breaks(tmp_path, "odyssai_transport_ring")
    report = doctor(Cluster(backend="ring", nodes=[local("a", tmp_path), local("b", tmp_path, python=python)]), pm)
    [packages] = [f for f in report.findings if f.node == "b" and f.check == "packages"]
    assert not report.ok and report.failing() == ["b"]
    assert packages.status == "fail"
    assert ("odyssai-transport-ring: import odyssai_transport_ring.plugin fails: "
            "ImportError: libfake.so: cannot open shared object file") in packages.message
    assert f"{python} -c 'import odyssai_transport_ring.plugin'" in packages.fix
    [a_packages] = [f for f in report.findings if f.node == "a" and f.check == "packages"]
    assert a_packages.status == "ok"


def test_a_plugin_the_cluster_does_not_need_that_does_not_import_is_a_warning(pm, tmp_path):
    python = python_that_breaks(tmp_path, "odyssai_transport_jaccl")
    report = doctor(Cluster(backend="ring", nodes=[local("a", tmp_path, python=python)]), pm)
    [packages] = [f for f in report.findings if f.check == "packages"]
    assert packages.status == "warn" and "import odyssai_transport_jaccl.plugin fails" in packages.message
    assert report.ok


def test_an_empty_models_dir_is_a_warning_and_the_node_would_still_load(pm, tmp_path):
    empty = tmp_path / "empty-models"
    empty.mkdir()
    report = doctor(Cluster(nodes=[local("a", tmp_path, models_dir=str(empty))]), pm)
    [models] = [f for f in report.findings if f.check == "models_dir"]
    assert models.status == "warn" and models.message.startswith("no models yet") and report.ok
