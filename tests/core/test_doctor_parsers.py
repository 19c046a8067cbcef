"""Doctor's pure parts: reading node output (Linux and macOS) and turning it into findings.

The macOS samples are written by hand from the documented formats (``sysctl -n hw.memsize``
prints bytes; ``vm_stat`` prints a "(page size of N bytes)" header and "Pages <kind>: N."
lines; ``df -Pk`` is POSIX output), not captured on a Mac: no Mac was available.
"""

from __future__ import annotations

import json

from odyssai.discovery import CommandResult
from odyssai.doctor import (Finding, Reference, compare_mlx, interpret_probe, interpret_resources,
                            parse_df, parse_macos_memory, parse_meminfo)
from odyssai.topology import Node

GIB = 1 << 30

MEMINFO = """\
MemTotal:       24576000 kB
MemFree:         1024000 kB
MemAvailable:   20480000 kB
Buffers:          102400 kB
"""

MACOS_MEMORY = """\
206158430208
Mach Virtual Memory Statistics: (page size of 16384 bytes)
Pages free:                              6000000.
Pages active:                            4000000.
Pages inactive:                          1500000.
Pages speculative:                         80000.
Pages throttled:                               0.
Pages wired down:                         900000.
Pages purgeable:                           30000.
"Translation faults":                  123456789.
Pages copy-on-write:                     1234567.
Pages zero filled:                      98765432.
Pages reactivated:                         12345.
Pages purged:                               1234.
File-backed pages:                        400000.
Anonymous pages:                         2100000.
Pages stored in compressor:                50000.
Pages occupied by compressor:              20000.
Decompressions:                            10000.
Compressions:                              20000.
Pageins:                                  300000.
Pageouts:                                    100.
Swapins:                                       0.
Swapouts:                                      0.
"""

DF_LINUX = """\
Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda         263174212 25000000 238174212      10% /
"""

DF_MACOS = """\
Filesystem    1024-blocks      Used  Available Capacity  Mounted on
/dev/disk3s5   1942700360 823456789 1000000000    46%    /System/Volumes/Data
"""


def test_meminfo_gives_total_and_available_bytes():
    assert parse_meminfo(MEMINFO) == (24576000 * 1024, 20480000 * 1024)


def test_macos_memory_counts_free_speculative_and_inactive_pages():
    total, available = parse_macos_memory(MACOS_MEMORY)
    assert total == 192 * GIB
    assert available == (6000000 + 80000 + 1500000) * 16384


def test_macos_memory_without_vm_stat_is_unknown():
    assert parse_macos_memory("206158430208\n") is None


def test_df_on_linux_gives_total_and_available_bytes():
    assert parse_df(DF_LINUX) == (263174212 * 1024, 238174212 * 1024)


def test_df_on_macos_gives_total_and_available_bytes():
    assert parse_df(DF_MACOS) == (1942700360 * 1024, 1000000000 * 1024)


# --- the resources script's output -----------------------------------------------------------

def resources(exists: bool, os_name: str = "Linux", memory: str = MEMINFO, df: str = DF_LINUX,
              entries: int = 2) -> CommandResult:
    head = f"os={os_name}\nmodels_dir=/models\nexists={int(exists)}\n" + (f"entries={entries}\n" if exists else "")
    return CommandResult(0, f"{head}--- df\n{df}--- memory\n{memory}", "")


def test_a_missing_models_dir_fails_with_the_mkdir_fix():
    models = [f for f in interpret_resources("n1", "/models", resources(False)) if f.check == "models_dir"]
    assert models[0].status == "fail" and "mkdir -p /models" in models[0].fix


def test_an_empty_models_dir_is_a_warning_that_says_how_to_get_a_model():
    [models] = [f for f in interpret_resources("n1", "/models", resources(True, entries=0)) if f.check == "models_dir"]
    assert models.status == "warn" and models.message == "no models yet: /models is empty"
    assert "odyssai models pull smollm2-135m --models-dir /models" in models.fix


def test_a_models_dir_with_models_is_ok():
    [models] = [f for f in interpret_resources("n1", "/models", resources(True)) if f.check == "models_dir"]
    assert models.status == "ok" and models.facts["entries"] == 2


def test_a_mac_reads_its_memory_from_sysctl_and_vm_stat():
    memory = [f for f in interpret_resources("n1", "/models", resources(True, "Darwin", MACOS_MEMORY, DF_MACOS))
              if f.check == "memory"][0]
    assert memory.status == "ok" and memory.facts["total_bytes"] == 192 * GIB


def test_low_free_disk_is_a_warning_not_a_failure():
    df = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/x 100000000 99000000 1000000 99% /\n"
    disk = [f for f in interpret_resources("n1", "/models", resources(True, df=df)) if f.check == "disk"][0]
    assert disk.status == "warn"


# --- the python probe's output ---------------------------------------------------------------

REF = Reference(distributions={"odyssai": "0.1.0", "odyssai-shard-tensor": "0.1.0", "odyssai-api-admin": "0.1.0"},
                modules={"odyssai": "odyssai", "odyssai-shard-tensor": "odyssai_shard_tensor",
                         "odyssai-api-admin": "odyssai_api_admin"},
                required={"odyssai", "odyssai-shard-tensor"}, local_mlx={"mlx": None, "mlx-lm": None},
                plugin_modules={"odyssai": ["odyssai.builtin"],
                                "odyssai-shard-tensor": ["odyssai_shard_tensor.plugin"],
                                "odyssai-api-admin": ["odyssai_api_admin.plugin"]})
NODE = Node(name="n1", host="10.0.0.1", python="/opt/py/bin/python")


def probe(dists: dict, errors: dict | None = None) -> CommandResult:
    facts = {"python": "3.11.7", "executable": "/opt/py/bin/python", "platform": "linux", "mac_ver": "",
             "dists": dists, "errors": errors or {}}
    return CommandResult(0, json.dumps(facts) + "\n", "")


ALL = {"odyssai": "0.1.0", "odyssai-shard-tensor": "0.1.0", "odyssai-api-admin": "0.1.0",
       "mlx": "0.32.4", "mlx-lm": "0.32.2"}


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def test_a_python_that_is_not_there_fails_naming_the_path():
    f = by_check(interpret_probe(NODE, CommandResult(127, "", "sh: 1: /opt/py/bin/python: not found"), REF, "lab"))
    assert f["python"].status == "fail" and "/opt/py/bin/python" in f["python"].message
    assert set(f) == {"python"}


def test_matching_packages_and_mlx_are_all_ok():
    assert {f.status for f in interpret_probe(NODE, probe(ALL), REF, "lab")} == {"ok"}


def test_a_missing_runtime_plugin_fails_and_says_what_to_install():
    f = by_check(interpret_probe(NODE, probe(ALL | {"odyssai-shard-tensor": None}), REF, "lab"))["packages"]
    assert f.status == "fail" and "odyssai-shard-tensor missing" in f.message
    assert "'odyssai-shard-tensor==0.1.0'" in f.fix


def test_a_missing_api_plugin_is_only_a_warning():
    f = by_check(interpret_probe(NODE, probe(ALL | {"odyssai-api-admin": None}), REF, "lab"))["packages"]
    assert f.status == "warn"


def test_another_odyssai_version_fails_naming_both_versions():
    f = by_check(interpret_probe(NODE, probe(ALL | {"odyssai": "0.0.9"}), REF, "lab"))["packages"]
    assert f.status == "fail" and "odyssai 0.0.9 (orchestrator 0.1.0)" in f.message


def test_a_runtime_plugin_that_is_installed_but_does_not_import_fails_with_its_error_and_a_fix():
    errors = {"odyssai_shard_tensor.plugin": "ImportError: cannot import name 'shard_linear' from 'mlx_lm'"}
    f = by_check(interpret_probe(NODE, probe(ALL, errors), REF, "lab"))["packages"]
    assert f.status == "fail"
    assert ("odyssai-shard-tensor: import odyssai_shard_tensor.plugin fails: ImportError: cannot import name "
            "'shard_linear' from 'mlx_lm'") in f.message
    assert f.fix == ("see why on n1: /opt/py/bin/python -c 'import odyssai_shard_tensor.plugin'; "
                     "then /opt/py/bin/python -m pip install --force-reinstall 'odyssai-shard-tensor==0.1.0'")
    assert f.facts["import_errors"] == errors


def test_an_api_plugin_that_does_not_import_is_a_warning():
    f = by_check(interpret_probe(NODE, probe(ALL, {"odyssai_api_admin.plugin": "ModuleNotFoundError: litestar"}),
                                 REF, "lab"))["packages"]
    assert f.status == "warn" and "import odyssai_api_admin.plugin fails" in f.message


def test_a_missing_plugin_is_reported_once_as_missing_not_also_as_an_import_failure():
    errors = {"odyssai_shard_tensor.plugin": "ModuleNotFoundError: No module named 'odyssai_shard_tensor'"}
    f = by_check(interpret_probe(NODE, probe(ALL | {"odyssai-shard-tensor": None}, errors), REF, "lab"))["packages"]
    assert f.message == "odyssai-shard-tensor missing" and "--force-reinstall" not in f.fix


def test_the_reference_knows_the_module_each_installed_plugin_was_loaded_from():
    from odyssai.plugins import get_plugin_manager

    ref = Reference.of(get_plugin_manager(), "ring")
    assert ref.plugin_modules["odyssai"] == ["odyssai.builtin"]
    assert ref.plugin_modules["odyssai-transport-ring"] == ["odyssai_transport_ring.plugin"]
    assert "odyssai-transport-ring" in ref.required


def test_the_host_key_fix_names_the_nodes_own_known_hosts_file():
    from odyssai.ssh import known_hosts_file

    assert known_hosts_file(Node(name="n1", host="h", known_hosts="/etc/odyssai/known hosts")) == \
        "'/etc/odyssai/known hosts'"
    assert known_hosts_file(Node(name="n1", host="h")) == "~/.ssh/known_hosts"


def test_mlx_that_does_not_import_fails():
    f = by_check(interpret_probe(NODE, probe(ALL, {"mlx.core": "ImportError: libmlx.so"}), REF, "lab"))["mlx"]
    assert f.status == "fail" and "libmlx.so" in f.message


# --- MLX across nodes ------------------------------------------------------------------------

def mlx_ok(node: str, mlx: str, lm: str = "0.32.2") -> Finding:
    return Finding(node, "mlx", "ok", "", facts={"versions": {"mlx": mlx, "mlx-lm": lm}, "python": "/py"})


def test_the_node_whose_mlx_differs_from_the_others_fails():
    out = compare_mlx([mlx_ok("a", "0.32.4"), mlx_ok("b", "0.32.4"), mlx_ok("c", "0.31.1")], REF, ["a", "b", "c"])
    assert [(f.node, f.status) for f in out] == [("a", "ok"), ("b", "ok"), ("c", "fail")]
    assert "mlx 0.31.1 here but 0.32.4 on a, b" in out[2].message


def test_a_tie_goes_to_the_orchestrators_mlx():
    ref = Reference(REF.distributions, REF.modules, REF.required, {"mlx": "0.31.1", "mlx-lm": None})
    out = compare_mlx([mlx_ok("a", "0.32.4"), mlx_ok("b", "0.31.1")], ref, ["a", "b"])
    assert [f.status for f in out] == ["fail", "ok"]


def test_an_mlx_lm_mismatch_is_caught_too():
    out = compare_mlx([mlx_ok("a", "0.32.4", "0.32.2"), mlx_ok("b", "0.32.4", "0.30.0")], REF, ["a", "b"])
    assert out[1].status == "fail" and out[1].message.startswith("mlx-lm 0.30.0")
