"""``odyssai doctor``: would each node of a cluster load? Asked over SSH, every node at once.

``diagnose`` opens one SSH connection per node (host key verified, as for a load) and reports
an unreachable node, an unknown host key and a refused key as three different ``ssh`` findings.
Then every ``DoctorCheck`` that applies to the cluster runs on each reachable node through
``run(argv)`` (quoted by core, sent over that connection) and returns ``Finding``s; once every
node is done, each check's ``summarize`` sees all its findings and may compare nodes (MLX
versions must be identical: a mismatch breaks the collectives).

Checks are registered like transports, with ``odyssai_register_doctor_checks(register)``; core's
own (``builtin_checks()``: python and packages, MLX, models_dir/disk/memory, the transport) are
registered the same way from ``odyssai.builtin``. Backend-specific checks (jaccl: macOS version,
``rdma_ctl status``, fe80 per Thunderbolt port) belong to their plugins.

The parsers of node output at the bottom (``/proc/meminfo``; macOS ``sysctl -n hw.memsize`` and
``vm_stat``; ``df -Pk``) are pure functions.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable, ClassVar, Literal, Sequence

from .discovery import CommandResult
from .errors import OdyssaiError
from .topology import Cluster, Node

Status = Literal["ok", "warn", "fail"]
GIB = 1 << 30
LOW_DISK_BYTES = 10 * GIB
LOW_MEMORY_FRACTION = 0.10

#: ``await run(argv, timeout=30.0)``: run argv (every word quoted) on the node being checked
RunCommand = Callable[..., Awaitable[CommandResult]]


@dataclass
class Finding:
    """One line of the report: on ``node`` (None: the cluster), ``check`` is ok, warn or fail.

    ``fix`` is the next step in one line; ``facts`` are machine-readable details (versions,
    bytes) that ``summarize`` and ``--json`` use.
    """

    node: str | None
    check: str
    status: Status
    message: str
    fix: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reference:
    """What the orchestrator has installed, which every node must match.

    ``distributions``: odyssai and every plugin distribution -> version; ``modules``: the
    top-level package each is imported by; ``plugin_modules``: the modules its plugins are
    loaded from (its entry points, e.g. ``odyssai_transport_jaccl.plugin``), which the node must
    import as the orchestrator did; ``required``: those a runner cannot do without (odyssai, the
    cluster's transport, the shard strategies) -- missing, different or not importable there
    fails, elsewhere it warns.
    """

    distributions: dict[str, str]
    modules: dict[str, str]
    required: set[str]
    local_mlx: dict[str, str | None] = field(default_factory=dict)
    plugin_modules: dict[str, list[str]] = field(default_factory=dict)

    def imports_of(self, dist: str) -> list[str]:
        """The modules to import on a node for ``dist`` (its plugin modules, else its package)."""
        return self.plugin_modules.get(dist) or ([self.modules[dist]] if dist in self.modules else [])

    @classmethod
    def of(cls, pm: Any, backend: str) -> "Reference":
        import importlib.metadata as md

        dists, modules, plugin_modules = {}, {}, {}
        for plugin_name, (dist, version) in pm.distributions.items():
            plugin = pm.get_plugin(plugin_name)
            module = getattr(plugin, "__name__", "") or type(plugin).__module__
            dists[dist], modules[dist] = version, module.split(".")[0]
            plugin_modules.setdefault(dist, []).append(module)
        owners = {pm.shard_strategies.owner(n) for n in pm.shard_strategies.names()}
        owners.add(pm.transports.owner(backend))
        local = {}
        for name in ("mlx", "mlx-lm"):
            try:
                local[name] = md.version(name)
            except md.PackageNotFoundError:
                local[name] = None
        return cls(dists, modules, {"odyssai"} | (owners & set(dists)), local, plugin_modules)


@dataclass
class DoctorContext:
    """What every check is told: the cluster under test, the orchestrator's reference, plugins."""

    cluster_name: str
    cluster: Cluster
    reference: Reference
    pm: Any = None
    #: the other clusters of the topology (None: not known)
    others: dict[str, Cluster] | None = None


class DoctorCheck:
    """Base class of doctor checks; ``name`` is unique across plugins.

    ``run`` is called once per reachable node (all nodes at once), ``summarize`` once after
    every node is done, with every finding ``run`` returned (it returns the final list: it may
    change, add or drop findings, e.g. to compare versions across nodes). A check that raises or
    takes longer than ``timeout`` seconds becomes a warning, never a traceback.
    """

    name: ClassVar[str] = ""
    timeout: ClassVar[float] = 60.0

    def applies(self, ctx: DoctorContext) -> bool:
        """True when this check is about ``ctx.cluster`` (e.g. only ``backend == 'jaccl'``)."""
        return True

    async def run(self, node: Node, run: RunCommand, ctx: DoctorContext) -> list[Finding]:
        return []

    def summarize(self, ctx: DoctorContext, findings: list[Finding]) -> list[Finding]:
        return findings


@dataclass
class Report:
    """Every finding about one cluster, in rank order."""

    cluster: str
    backend: str
    nodes: list[str]
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        """No finding fails: as far as doctor can tell, every node would load."""
        return not any(f.status == "fail" for f in self.findings)

    def failing(self) -> list[str]:
        """Nodes (or 'cluster') with a failing finding."""
        return list(dict.fromkeys(f.node or "cluster" for f in self.findings if f.status == "fail"))

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "backend": self.backend, "ok": self.ok, "nodes": self.nodes,
                "failing": self.failing(), "findings": [f.to_dict() for f in self.findings]}


# --- the engine ------------------------------------------------------------------------------

def ssh_finding(node: Node, error: OdyssaiError) -> Finding:
    """Say why ``connect`` failed: unknown host key, key refused or unreachable are different."""
    import asyncssh

    cause = error.__context__
    where = f"{node.user + '@' if node.user else ''}{node.host}:{node.port}"
    if isinstance(cause, asyncssh.HostKeyNotVerifiable) or error.param == "known_hosts":
        reason = getattr(cause, "reason", "") or error.message
        return Finding(node.name, "ssh", "fail", f"host key of {where} is unknown or changed: {reason}",
                       error.hint or "", {"reason": "host_key"})
    if isinstance(cause, asyncssh.PermissionDenied):
        return Finding(node.name, "ssh", "fail", f"{where} refused our SSH key", error.hint or "",
                       {"reason": "auth"})
    reason = error.message.split(" is unreachable over SSH: ", 1)[-1]
    return Finding(node.name, "ssh", "fail", f"{where} is unreachable: {reason}", error.hint or "",
                   {"reason": "unreachable"})


async def _open(node: Node, connect_timeout: float) -> tuple[RunCommand, Callable[[], None]] | Finding:
    """A ``run`` bound to ``node`` over one SSH connection (or locally), or the ssh finding."""
    from .ssh import command_line, connect, run_on_node

    if node.spawner == "local":
        async def run_local(argv: Sequence[str], timeout: float = 30.0) -> CommandResult:
            return await run_on_node(node, list(argv), timeout=timeout)
        return run_local, lambda: None
    try:
        conn = await connect(node, connect_timeout)
    except OdyssaiError as e:
        return ssh_finding(node, e)

    async def run(argv: Sequence[str], timeout: float = 30.0) -> CommandResult:
        import asyncssh

        try:
            r = await asyncio.wait_for(conn.run(command_line(list(argv)), check=False), timeout)
        except asyncio.TimeoutError:
            return CommandResult(124, "", f"timed out after {timeout:.0f}s")
        except (asyncssh.Error, OSError) as e:
            return CommandResult(255, "", f"connection lost: {e}")
        return CommandResult(r.exit_status if r.exit_status is not None else 255,
                             str(r.stdout or ""), str(r.stderr or ""))

    return run, conn.close


async def _one_check(check: DoctorCheck, node: Node, run: RunCommand, ctx: DoctorContext) -> list[Finding]:
    try:
        return list(await asyncio.wait_for(check.run(node, run, ctx), check.timeout))
    except asyncio.TimeoutError:
        return [Finding(node.name, check.name, "warn", f"the check took longer than {check.timeout:.0f}s",
                        "run `odyssai doctor` again; if it persists, look at the node")]
    except Exception as e:  # a broken plugin check must not take the report down
        return [Finding(node.name, check.name, "warn", f"the check itself failed: {type(e).__name__}: {e}",
                        "report this to the plugin that registered the check")]


async def _node(node: Node, checks: list[DoctorCheck], ctx: DoctorContext,
                connect_timeout: float) -> dict[str, list[Finding]]:
    opened = await _open(node, connect_timeout)
    if isinstance(opened, Finding):
        return {"ssh": [opened]}
    run, close = opened
    try:
        results = await asyncio.gather(*(_one_check(c, node, run, ctx) for c in checks))
    finally:
        close()
    if node.spawner == "local":
        reached = Finding(node.name, "ssh", "ok", "runs on this machine (spawner: local), no SSH")
    else:
        reached = Finding(node.name, "ssh", "ok", f"reached {node.host}:{node.port}, host key verified")
    return {"ssh": [reached], **{c.name: r for c, r in zip(checks, results)}}


def _applicable(checks: Any, ctx: DoctorContext) -> tuple[list[DoctorCheck], list[Finding]]:
    """The checks that apply to ``ctx.cluster``; one that cannot even say so is a warning."""
    out, broken = [], []
    for check in checks:
        try:
            if check.applies(ctx):
                out.append(check)
        except Exception as e:
            broken.append(Finding(None, getattr(check, "name", "?"), "warn",
                                  f"the check could not tell whether it applies: {type(e).__name__}: {e}"))
    return out, broken


async def diagnose(cluster_name: str, cluster: Cluster, pm: Any, *, checks: list[DoctorCheck] | None = None,
                   connect_timeout: float = 15.0, others: dict[str, Cluster] | None = None) -> Report:
    """Run every applicable check on every node of ``cluster`` at once; findings in rank order.

    :param others: the other clusters of the topology, for checks that compare (e.g. ports).
    """
    ctx = DoctorContext(cluster_name, cluster, Reference.of(pm, cluster.backend), pm, others)
    checks, broken = _applicable(checks if checks is not None else pm.doctor_checks.values(), ctx)
    per_node = await asyncio.gather(*(_node(n, checks, ctx, connect_timeout) for n in cluster.nodes))
    tagged = [(0, f) for results in per_node for f in results["ssh"]]
    for i, check in enumerate(checks, 1):
        mine = [f for results in per_node for f in results.get(check.name, [])]
        try:
            tagged += [(i, f) for f in check.summarize(ctx, mine)]
        except Exception as e:
            tagged += [(i, f) for f in mine]
            tagged.append((i, Finding(None, check.name, "warn", f"summarizing failed: {type(e).__name__}: {e}")))
    rank = {n.name: r for r, n in enumerate(cluster.nodes)}
    tagged.sort(key=lambda t: (rank.get(t[1].node or "", len(rank)), t[0]))  # stable: a check's own order stays
    findings = [f for _, f in tagged] + broken
    return Report(cluster_name, cluster.backend, [n.name for n in cluster.nodes], findings)


# --- core's checks ---------------------------------------------------------------------------

#: runs with ``python -c``; argv[1] is JSON {"dists": {dist: module}, "imports": [module]};
#: prints one JSON line: the Python, each dist's version (None if absent or not importable), and
#: the error of each import that failed
PROBE_SNIPPET = """\
import importlib.metadata as md, importlib.util as iu, json, platform, sys
want = json.loads(sys.argv[1])
out = {"python": platform.python_version(), "executable": sys.executable, "platform": sys.platform,
       "mac_ver": platform.mac_ver()[0], "dists": {}, "errors": {}}
for dist, module in want["dists"].items():
    try:
        version = md.version(dist)
    except md.PackageNotFoundError:
        version = None
    try:
        found = iu.find_spec(module) is not None
    except Exception:
        found = False
    out["dists"][dist] = version if found else None
for module in want["imports"]:
    try:
        __import__(module)
    except Exception as e:
        out["errors"][module] = type(e).__name__ + ": " + (str(e).splitlines() or [""])[0][:200]
print(json.dumps(out))
"""

MLX_DISTS = {"mlx": "mlx", "mlx-lm": "mlx_lm"}


def _install_hint(python: str, pins: dict[str, str], reinstall: bool = False) -> str:
    return (f"{shlex.quote(python)} -m pip install " + ("--force-reinstall " if reinstall else "")
            + " ".join(f"'{d}=={v}'" for d, v in pins.items()))


class PythonCheck(DoctorCheck):
    """The node's ``python`` runs, and has odyssai, the plugins and MLX as the runner needs them.

    One ``python -c`` on the node gives three findings: ``python``, ``packages`` (the same
    versions as on the orchestrator) and ``mlx`` (installed, ``mlx.core`` imports; identical on
    every node, compared in ``summarize``).
    """

    name = "python"

    async def run(self, node: Node, run: RunCommand, ctx: DoctorContext) -> list[Finding]:
        ref = ctx.reference
        plugins = [m for d in sorted(ref.distributions) for m in ref.imports_of(d)]
        want = {"dists": {**ref.modules, **MLX_DISTS},
                "imports": list(dict.fromkeys(["odyssai", *plugins, "mlx.core"]))}
        r = await run([node.python, "-c", PROBE_SNIPPET, json.dumps(want)], timeout=45.0)
        return interpret_probe(node, r, ref, ctx.cluster_name)

    def summarize(self, ctx: DoctorContext, findings: list[Finding]) -> list[Finding]:
        return compare_mlx(findings, ctx.reference, [n.name for n in ctx.cluster.nodes])


def interpret_probe(node: Node, r: CommandResult, ref: Reference, cluster_name: str) -> list[Finding]:
    """Findings from the probe snippet's result (pure)."""
    py = node.python
    set_python = f"point 'python' of {node.name} at a Python with odyssai[runner] (topology.yaml)"
    last = (r.stderr.strip().splitlines() or [""])[-1][:200]
    if r.exit_status in (126, 127):
        return [Finding(node.name, "python", "fail", f"python {py!r} cannot be run on the node: {last}",
                        set_python, {"exit_status": r.exit_status})]
    try:
        facts = json.loads(r.stdout.strip().splitlines()[-1]) if r.exit_status == 0 else None
    except (ValueError, IndexError):
        facts = None
    if not isinstance(facts, dict):
        return [Finding(node.name, "python", "fail", f"python {py!r} failed (exit {r.exit_status}): {last}",
                        set_python, {"exit_status": r.exit_status})]
    out = [Finding(node.name, "python", "ok", f"Python {facts['python']} at {facts['executable']}",
                   facts={k: facts[k] for k in ("python", "executable", "platform", "mac_ver")})]
    have: dict[str, str | None] = facts["dists"]
    errors: dict[str, str] = facts.get("errors") or {}
    problems, pins, status = [], {}, "ok"
    broken: list[str] = []  # modules that are installed but do not import

    def worse(dist: str) -> None:
        nonlocal status
        status = "fail" if dist in ref.required else ("warn" if status == "ok" else status)

    for dist, version in sorted(ref.distributions.items()):
        there = have.get(dist)
        if there != version:
            problems.append(f"{dist} missing" if there is None else f"{dist} {there} (orchestrator {version})")
            pins[dist] = version
            worse(dist)
            continue
        for module in ref.imports_of(dist):
            if module in errors:
                problems.append(f"{dist}: import {module} fails: {errors[module]}")
                broken.append(module)
                pins[dist] = version
                worse(dist)
    if "odyssai" in errors and not any(m.split(".")[0] == "odyssai" for m in broken):
        status = "fail"
        problems.append(f"import odyssai: {errors['odyssai']}")
        broken.append("odyssai")
    n_plugins = len(ref.distributions) - 1
    message = "; ".join(problems) or f"odyssai and {n_plugins} plugin(s) match the orchestrator and import"
    fixes = []
    if broken:
        fixes.append(f"see why on {node.name}: {shlex.quote(py)} -c {shlex.quote('import ' + broken[0])}")
    if pins:
        fixes.append(("then " if broken else "") + _install_hint(py, pins, reinstall=bool(broken)))
    out.append(Finding(node.name, "packages", status, message, "; ".join(fixes),
                       {"versions": {d: have.get(d) for d in ref.distributions},
                        "import_errors": {m: errors[m] for m in broken if m in errors}}))
    mlx = {d: have.get(d) for d in MLX_DISTS}
    facts_mlx = {"versions": mlx, "python": py}
    missing = [d for d, v in mlx.items() if v is None]
    if missing:
        out.append(Finding(node.name, "mlx", "fail", f"{', '.join(missing)} not installed for {py}",
                           f"install odyssai[runner] for {py} on {node.name}", facts_mlx))
    elif "mlx.core" in facts["errors"]:
        out.append(Finding(node.name, "mlx", "fail", f"import mlx.core fails: {facts['errors']['mlx.core']}",
                           f"reinstall mlx for {py} on {node.name}", facts_mlx))
    else:
        out.append(Finding(node.name, "mlx", "ok", f"mlx {mlx['mlx']}, mlx-lm {mlx['mlx-lm']}",
                           facts=facts_mlx))
    return out


def compare_mlx(findings: list[Finding], ref: Reference, rank_order: list[str]) -> list[Finding]:
    """Fail every node whose mlx or mlx-lm differs from the others' (pure).

    The version that counts is the most common one; a tie goes to the orchestrator's version if
    a node has it, else to the lowest rank's.
    """
    mlx = {f.node: f for f in findings if f.check == "mlx" and f.status == "ok"}
    for dist in MLX_DISTS:
        versions = {n: f.facts["versions"][dist] for n, f in mlx.items()}
        if len(set(versions.values())) < 2:
            continue
        counts = Counter(versions.values())
        top = max(counts.values())
        tied = [v for v, c in counts.items() if c == top]
        if ref.local_mlx.get(dist) in tied:
            wanted = ref.local_mlx[dist]
        else:
            wanted = next(versions[n] for n in rank_order if n in versions and versions[n] in tied)
        agree = [n for n in rank_order if versions.get(n) == wanted]
        for n, v in versions.items():
            if v != wanted:
                f = mlx[n]
                f.status = "fail"
                f.message = (f"{dist} {v} here but {wanted} on {', '.join(agree)}: "
                             "a version mismatch breaks the collectives")
                f.fix = (f"on {n}: {f.facts.get('python', 'python3')} -m pip install '{dist}=={wanted}' "
                         "(or point 'python' at an environment that has it)")
    return findings


#: runs with ``sh -c``; $1 is models_dir. Prints key=value lines, then df and memory sections.
RESOURCES_SCRIPT = r"""
d=$1
case $d in "~") d=$HOME ;; "~/"*) d=$HOME/${d#"~/"} ;; esac
echo "os=$(uname -s)"
echo "models_dir=$d"
if [ -d "$d" ]; then echo "exists=1"; else echo "exists=0"; fi
[ -d "$d" ] && echo "entries=$(ls -1A "$d" 2>/dev/null | wc -l | tr -d ' ')"
p=$d
while [ ! -e "$p" ] && [ "$p" != "/" ] && [ "$p" != "." ]; do p=$(dirname "$p"); done
echo "--- df"
df -Pk "$p"
echo "--- memory"
case $(uname -s) in
  Darwin) sysctl -n hw.memsize; vm_stat ;;
  *) cat /proc/meminfo ;;
esac
"""


class ResourcesCheck(DoctorCheck):
    """models_dir exists on the node; free disk under it and free memory (Linux and macOS)."""

    name = "resources"

    async def run(self, node: Node, run: RunCommand, ctx: DoctorContext) -> list[Finding]:
        models_dir = ctx.cluster.models_dir_of(node)
        r = await run(["sh", "-c", RESOURCES_SCRIPT, "sh", models_dir], timeout=30.0)
        return interpret_resources(node.name, models_dir, r)


def interpret_resources(node: str, models_dir: str, r: CommandResult) -> list[Finding]:
    """Findings ``models_dir``, ``disk`` and ``memory`` from the resources script's output (pure).

    A models_dir that exists but is empty is a warning (nothing to load yet), not a failure.
    """
    head, _, rest = r.stdout.partition("--- df\n")
    df_text, _, mem_text = rest.partition("--- memory\n")
    kv = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    if "exists" not in kv:
        last = (r.stderr.strip().splitlines() or [""])[-1][:200]
        return [Finding(node, "models_dir", "warn", f"could not look at the node (exit {r.exit_status}): {last}")]
    path = kv.get("models_dir", models_dir)
    out = []
    if kv["exists"] == "1" and kv.get("entries") == "0":
        from .models.catalog import DEFAULT_MODEL

        out.append(Finding(node, "models_dir", "warn", f"no models yet: {path} is empty",
                           f"on {node}: odyssai models pull {DEFAULT_MODEL} --models-dir {shlex.quote(path)} "
                           "(or copy a model there)", {"path": path, "entries": 0}))
    elif kv["exists"] == "1":
        entries = kv.get("entries", "?")
        out.append(Finding(node, "models_dir", "ok", f"{path} exists ({entries} entries)",
                           facts={"path": path, "entries": int(entries) if entries.isdigit() else None}))
    else:
        out.append(Finding(node, "models_dir", "fail", f"models_dir {path} does not exist",
                           f"create it on {node} (mkdir -p {shlex.quote(path)}) and copy the models there, "
                           "or fix 'models_dir' in topology.yaml", {"path": path}))
    disk = parse_df(df_text)
    if disk is None:
        out.append(Finding(node, "disk", "warn", "could not read df output"))
    else:
        total, free = disk
        status: Status = "warn" if free < LOW_DISK_BYTES else "ok"
        out.append(Finding(node, "disk", status, f"{_gib(free)} free of {_gib(total)} under {path}",
                           "free some space: models need tens of GiB" if status == "warn" else "",
                           {"total_bytes": total, "free_bytes": free}))
    memory = (parse_macos_memory(mem_text) if kv.get("os") == "Darwin" else parse_meminfo(mem_text))
    if memory is None:
        out.append(Finding(node, "memory", "warn", f"could not read memory on {kv.get('os', '?')}"))
    else:
        total, free = memory
        status = "warn" if free < LOW_MEMORY_FRACTION * total else "ok"
        out.append(Finding(node, "memory", status, f"{_gib(free)} available of {_gib(total)}",
                           "stop what else runs on the node" if status == "warn" else "",
                           {"total_bytes": total, "available_bytes": free}))
    return out


class TransportCheck(DoctorCheck):
    """The cluster's backend is installed and accepts the cluster (e.g. jaccl's rdma_to mesh)."""

    name = "transport"

    def summarize(self, ctx: DoctorContext, findings: list[Finding]) -> list[Finding]:
        backend = ctx.cluster.backend
        try:
            ctx.pm.transport(backend).check(ctx.cluster_name, ctx.cluster, others=ctx.others)
        except OdyssaiError as e:
            return [Finding(None, "transport", "fail", e.message, e.hint or "")]
        return [Finding(None, "transport", "ok", f"backend {backend} is installed and accepts the cluster")]


def builtin_checks() -> list[DoctorCheck]:
    """Core's checks, registered from ``odyssai.builtin`` like any plugin's."""
    return [PythonCheck(), ResourcesCheck(), TransportCheck()]


# --- parsers (pure) --------------------------------------------------------------------------

def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


_DF_ROW = re.compile(r"\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s+\S.*$")


def parse_df(text: str) -> tuple[int, int] | None:
    """``df -Pk`` (Linux and macOS) -> (total bytes, available bytes) of its one file system."""
    for line in text.strip().splitlines()[1:]:
        m = _DF_ROW.search(line)
        if m:
            return int(m.group(1)) * 1024, int(m.group(3)) * 1024
    return None


def parse_meminfo(text: str) -> tuple[int, int] | None:
    """Linux ``/proc/meminfo`` -> (MemTotal, MemAvailable) in bytes."""
    values = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s+(\d+)\s*kB", line)
        if m:
            values[m.group(1)] = int(m.group(2)) * 1024
    if "MemTotal" not in values:
        return None
    return values["MemTotal"], values.get("MemAvailable", values.get("MemFree", 0))


def parse_macos_memory(text: str) -> tuple[int, int] | None:
    """macOS ``sysctl -n hw.memsize`` then ``vm_stat`` -> (total, available) in bytes.

    ``vm_stat`` prints "(page size of N bytes)" and then "Pages free: N." lines, where its
    "free" leaves out the speculative pages. Available is counted as psutil does on macOS:
    (free + speculative + inactive) pages times the page size.
    """
    lines = text.strip().splitlines()
    if not lines or not lines[0].strip().isdigit():
        return None
    total = int(lines[0].strip())
    page = re.search(r"page size of (\d+) bytes", text)
    pages = {m.group(1).strip().lower(): int(m.group(2))
             for m in re.finditer(r"^Pages ([\w -]+):\s+(\d+)\.?\s*$", text, re.M)}
    if page is None or "free" not in pages:
        return None
    free = pages["free"] + pages.get("speculative", 0) + pages.get("inactive", 0)
    return total, free * int(page.group(1))
