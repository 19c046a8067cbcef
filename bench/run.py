"""Benchmarks: our server against ``mlx_lm.server`` (started with ``mlx.launch``), in one run.

Both serve the same tiny random-weight model (EOS disabled, so every request generates exactly
``--tokens`` tokens) on the same number of ranks, ring backend over loopback, tensor parallel.
Every request has a prompt of its own (so mlx_lm.server's prompt cache cannot skip prefill).
Printed: time to first token and tokens/s for one streaming client, aggregate tokens/s for
``--clients`` concurrent clients, and the ratios; also the same cluster driven in-process
(no HTTP), which separates the ranks' speed from the server's and clients' share of the CPU;
and mlx-lm's ``BatchGenerator`` alone in one process with 1 and N rows, the most batching can
give with this machine's MLX. Never run as a test.

    uv run python bench/run.py [--ranks 2] [--clients 8] [--tokens 128] [--repeats 3] [--layers 4] [--hidden 256]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
PROMPT = "Once upon a time there was a small model that wanted to be large."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_model(models_dir: Path, layers: int = 4, hidden: int = 256) -> Path:
    from support.tinymodels import build_llama, rewrite_config

    m = build_llama(models_dir, "bench-llama", layers=layers, hidden=hidden, heads=8, kv_heads=4,
                    intermediate=3 * hidden)
    rewrite_config(m, eos_token_id=10**9)   # never generated: every request runs to max_tokens
    return m.path


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def stream_once(base: str, model: str, tokens: int, prompt: str = PROMPT) -> tuple[float, float, int]:
    """One streaming completion: (time to first token, seconds in all, chunks with text).

    Tokens/s assume every request generates exactly ``tokens`` tokens (EOS is disabled): when the
    server reports usage, that is checked, so a short answer cannot inflate the numbers."""
    body = {"model": model, "prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first = None
    n = 0
    with httpx.stream("POST", base + "/v1/completions", json=body, timeout=600) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            usage = chunk.get("usage") or {}
            if usage.get("completion_tokens") not in (None, tokens):
                raise SystemExit(f"{base}: {usage['completion_tokens']} tokens generated, {tokens} asked")
            if chunk.get("choices") and chunk["choices"][0].get("text"):
                n += 1
                if first is None:
                    first = time.perf_counter() - start
    return first or 0.0, time.perf_counter() - start, n


def measure(base: str, model: str, tokens: int, clients: int, repeats: int) -> dict[str, float]:
    """Every request has a prompt of its own: mlx_lm.server's prompt cache must not skip prefill."""
    stream_once(base, model, 8, f"warm up. {PROMPT}")
    singles = [stream_once(base, model, tokens, f"Single {i}. {PROMPT}") for i in range(repeats)]
    ttft = statistics.median(s[0] for s in singles)
    single_tps = statistics.median(tokens / s[1] for s in singles)
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda i: stream_once(base, model, tokens, f"Client {i} of {len(walls)}. {PROMPT}"),
                          range(clients)))
        walls.append(time.perf_counter() - t0)
    return {"ttft_ms": ttft * 1000, "tps_1": single_tps, f"tps_{clients}": clients * tokens / statistics.median(walls)}


def run_ours(model_path: Path, ranks: int, work: Path) -> tuple[str, subprocess.Popen]:
    from odyssai.topology import Cluster, Node, save_clusters

    home = work / "home"
    home.mkdir()
    nodes = [Node(name=f"r{i}", host="localhost", ip="127.0.0.1", spawner="local", python=sys.executable)
             for i in range(ranks)]
    save_clusters(home / "topology.yaml", {"bench": Cluster(models_dir=str(model_path.parent), nodes=nodes)})
    port = free_port()
    env = dict(os.environ, ODYSSAI_HOME=str(home), ODYSSAI_PORT=str(port), ODYSSAI_LOG_LEVEL="warning")
    proc = subprocess.Popen([sys.executable, "-m", "odyssai.cli", "serve"], env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", proc)
    r = httpx.post(base + "/admin/bench/load", params={"wait": "true"}, json={"model": model_path.name}, timeout=600)
    r.raise_for_status()
    return base, proc


def measure_in_process(model_path: Path, ranks: int, work: Path, tokens: int, clients: int,
                       repeats: int) -> dict[str, float]:
    """The same cluster driven by ClusterManager in this process: the ranks' speed without HTTP."""
    import asyncio

    from odyssai import protocol
    from odyssai.cluster import ClusterManager
    from odyssai.plugins import get_plugin_manager
    from odyssai.settings import load_settings
    from odyssai.topology import Cluster, Node, save_clusters

    home = work / "home-inproc"
    home.mkdir()
    nodes = [Node(name=f"r{i}", host="localhost", ip="127.0.0.1", spawner="local", python=sys.executable)
             for i in range(ranks)]
    save_clusters(home / "topology.yaml", {"bench": Cluster(models_dir=str(model_path.parent), nodes=nodes)})

    async def one(cluster, rid: str, n: int) -> tuple[float, float]:
        t0, first = time.perf_counter(), None
        gen = protocol.Generate(id=rid, prompt=f"{rid}. {PROMPT}", params=protocol.SamplingParams(max_tokens=n))
        async for msg in cluster.generate(gen):
            if isinstance(msg, protocol.Tokens) and first is None:
                first = time.perf_counter() - t0
        return first or 0.0, time.perf_counter() - t0

    async def run() -> dict[str, float]:
        manager = ClusterManager(load_settings(home=home), get_plugin_manager())
        cluster = manager.get("bench")
        try:
            await cluster.load(model_path.name)
            await one(cluster, "warm", 8)
            singles = [await one(cluster, f"single-{i}", tokens) for i in range(repeats)]
            walls = []
            for r in range(repeats):
                t0 = time.perf_counter()
                await asyncio.gather(*(one(cluster, f"c{r}-{i}", tokens) for i in range(clients)))
                walls.append(time.perf_counter() - t0)
        finally:
            await manager.shutdown()
        return {"ttft_ms": statistics.median(s[0] for s in singles) * 1000,
                "tps_1": statistics.median(tokens / s[1] for s in singles),
                f"tps_{clients}": clients * tokens / statistics.median(walls)}

    return asyncio.run(run())


def measure_batch_ceiling(model_path: Path, rows: int, steps: int = 100) -> dict[str, float]:
    """mlx-lm's own ``BatchGenerator`` in one process, no ranks, no server: tokens/s with one row
    and with ``rows`` rows. Its ratio bounds what batching can give on this machine's MLX."""
    from mlx_lm import load
    from mlx_lm.generate import BatchGenerator

    model, tokenizer = load(str(model_path))
    out = {}
    for n in (1, rows):
        gen = BatchGenerator(model, completion_batch_size=rows, prefill_batch_size=rows)
        gen.insert([tokenizer.encode(f"Row {i}. {PROMPT}") for i in range(n)], max_tokens=[steps + 50] * n)
        for _ in range(10):
            gen.next()
        t0, produced = time.perf_counter(), 0
        for _ in range(steps):
            produced += len(gen.next()[1])
        out[n] = produced / (time.perf_counter() - t0)
        gen.close()
    return {"tps_1": out[1], f"tps_{rows}": out[rows]}


def run_mlx_lm(model_path: Path, ranks: int) -> tuple[str, subprocess.Popen]:
    port = free_port()
    launch = [str(Path(sys.executable).parent / "mlx.launch"), "--backend", "ring", "-n", str(ranks),
              "--starting-port", str(free_port()), "--python", sys.executable, "--", "-m", "mlx_lm.server", "--model", str(model_path),
              "--port", str(port)]
    proc = subprocess.Popen(launch, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/v1/models", proc)
    return base, proc


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(20)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="odyssai-bench-") as tmp:
        work = Path(tmp)
        model = build_model(work / "models", a.layers, a.hidden)
        results = {}
        for name, start in (("odyssai", lambda: run_ours(model, a.ranks, work)),
                            ("mlx_lm.server", lambda: run_mlx_lm(model, a.ranks))):
            base, proc = start()
            try:
                model_id = model.name if name == "odyssai" else str(model)
                results[name] = measure(base, model_id, a.tokens, a.clients, a.repeats)
            finally:
                stop(proc)
        results["odyssai, no HTTP"] = measure_in_process(model, a.ranks, work, a.tokens, a.clients, a.repeats)
        ceiling = measure_batch_ceiling(model, a.clients)
    ours, ref = results["odyssai"], results["mlx_lm.server"]
    inproc = results["odyssai, no HTTP"]
    k = f"tps_{a.clients}"
    print(f"model: {a.layers}-layer hidden-{a.hidden} llama (random weights, float32), {a.ranks} ranks (ring, loopback), {a.tokens} tokens/request")
    print(f"{'':18}{'TTFT ms':>10}{'tok/s 1 client':>16}{f'tok/s {a.clients} clients':>18}")
    for name, r in results.items():
        print(f"{name:18}{r['ttft_ms']:10.1f}{r['tps_1']:16.1f}{r[k]:18.1f}")
    print(f"odyssai {a.clients} clients vs 1 client: {ours[k] / ours['tps_1']:.2f}x "
          f"(without HTTP: {inproc[k] / inproc['tps_1']:.2f}x)")
    print(f"mlx-lm BatchGenerator alone (1 process, no ranks): {ceiling['tps_1']:.0f} tok/s with 1 row, "
          f"{ceiling[k]:.0f} with {a.clients}: {ceiling[k] / ceiling['tps_1']:.2f}x (what batching gives this MLX)")
    print(f"odyssai vs mlx_lm.server, 1 client throughput: {ours['tps_1'] / ref['tps_1']:.2f}x")
    print(f"odyssai vs mlx_lm.server, {a.clients} clients throughput: {ours[k] / ref[k]:.2f}x")
    print(f"odyssai TTFT minus mlx_lm.server TTFT: {ours['ttft_ms'] - ref['ttft_ms']:+.1f} ms")


if __name__ == "__main__":
    main()
