"""``odyssai demo``: a cluster on this machine serving the default model, from nothing.

It pulls SmolLM2-135M-Instruct when it is not there yet, starts N local ranks joined by the ring
backend over loopback, loads the model with the sharding the strategies choose, serves the
OpenAI API, prints how to reach it, answers one sample chat, and serves until Ctrl-C (or exits
after the sample with ``--once``). Every rank is gone when it returns.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from .errors import OdyssaiError
from .topology import Cluster as ClusterSpec
from .topology import Node

DEFAULT_MODEL = "smollm2-135m"
DEMO_CLUSTER = "demo"
SAMPLE_QUESTION = "What is the capital of France?"


def demo_cluster(ranks: int, models_dir: Path) -> ClusterSpec:
    """N ranks on this machine: local spawner, ring over 127.0.0.1."""
    nodes = [Node(name=f"local{i}", host="localhost", ip="127.0.0.1", spawner="local", python=sys.executable)
             for i in range(ranks)]
    return ClusterSpec(backend="ring", models_dir=str(models_dir), nodes=nodes)


def ensure_model(name: str, models_dir: Path, console: Console) -> None:
    from .models.pull import is_pulled, pull

    if is_pulled(name, models_dir):
        console.print(f"model {name} is in {models_dir}")
        return
    from rich.progress import BarColumn, Progress, TextColumn

    console.print(f"pulling {name} into {models_dir} (once) ...")
    with Progress(TextColumn("  {task.description}"), BarColumn(), console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None)
        pull(name, models_dir, lambda done, total, what: bar.update(
            task, completed=done, total=total or None, description=what))
    console.print(f"  imported {name}")


def _examples(url: str, model: str, key: str | None) -> str:
    auth = f" -H 'Authorization: Bearer {key}'" if key else ""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Say hello"}]})
    return (f"  curl {url}/v1/chat/completions -H 'Content-Type: application/json'{auth} -d '{body}'\n"
            f"  python -c \"import openai; c = openai.OpenAI(base_url='{url}/v1', api_key='{key or 'none'}'); "
            f"print(c.chat.completions.create(model='{model}', messages=[{{'role': 'user', "
            f"'content': 'Say hello'}}]).choices[0].message.content)\"")


def check_port_free(host: str, port: int) -> None:
    """Refuse at once, before any pull or load, when the demo's address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind((host, port))
        except OSError as e:
            raise OdyssaiError(f"cannot serve on {host}:{port}: {e.strerror or e}",
                               hint="another server has that port: stop it, or pass --port / set ODYSSAI_PORT") from None


async def _serve(server: Any, url: str) -> None:
    """uvicorn's ``serve`` ends a failed start with ``SystemExit``: turn that into our error."""
    try:
        await server.serve()
    except SystemExit:
        raise OdyssaiError(f"the server could not start on {url}",
                           hint="is the port taken? pass --port or set ODYSSAI_PORT") from None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C reached the HTTP server (uvicorn takes the signal) before the demo was done."""


async def run_demo(settings: Any, pm: Any, *, ranks: int = 2, model: str = DEFAULT_MODEL,
                   once: bool = False, question: str = SAMPLE_QUESTION, console: Console | None = None) -> str:
    """Run the demo; returns the sample answer. Raises ``OdyssaiError`` on any user-facing failure."""
    import httpx

    from .cluster import ClusterManager
    from .server import create_app, uvicorn_server

    console = console or Console()
    from .server import require_key_when_exposed

    require_key_when_exposed(settings)
    check_port_free(settings.host, settings.port)
    models_dir = settings.home / "models"
    ensure_model(model, models_dir, console)

    manager = ClusterManager(settings, pm)
    cluster = manager.add(DEMO_CLUSTER, demo_cluster(ranks, models_dir))
    app = create_app(settings, pm, manager)
    server = uvicorn_server(app, settings, log_level="warning")
    url = f"http://{settings.host}:{settings.port}"
    serving = asyncio.create_task(_serve(server, url))
    key = settings.api_key.get_secret_value() if settings.api_key else None
    try:
        while not server.started:
            if serving.done():
                serving.result()   # raises the start failure
                raise Interrupted()
            await asyncio.sleep(0.05)
        console.print(f"loading {model} on {ranks} local rank(s) ...")
        events = manager.events.open()
        load = asyncio.create_task(cluster.load(model, wait=True))
        while not load.done():
            if serving.done():  # Ctrl-C while loading: stop the load too, leave nothing running
                load.cancel()
                await asyncio.gather(load, return_exceptions=True)
                raise Interrupted()
            try:
                ev = await asyncio.wait_for(events.get(), 0.5)
            except asyncio.TimeoutError:
                continue
            if ev["type"] == "rank_phase":
                console.print(f"  rank {ev['rank']}: {ev['phase']}", highlight=False)
            elif ev["type"] == "plan":
                console.print(f"  sharding: {ev['plan']['summary']}", highlight=False)
        manager.events.close(events)
        status = load.result()
        console.print(f"[green]serving {model}[/] at {url}/v1 (loaded in {status['load_seconds']}s)")
        console.print("try it:\n" + _examples(url, model, key), highlight=False, soft_wrap=True)
        if serving.done():
            raise Interrupted()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300) as http:
            r = await http.post("/v1/chat/completions", json={
                "model": model, "messages": [{"role": "user", "content": question}],
                "temperature": 0, "max_tokens": 64})
        if r.status_code != 200:
            raise OdyssaiError(f"the sample chat failed: {r.json().get('error', {}).get('message', r.text)}")
        answer = r.json()["choices"][0]["message"]["content"]
        console.print(f"\n[bold]Q:[/] {question}\n[bold]A:[/] {answer}\n", highlight=False)
        if not once:
            console.print("serving until Ctrl-C")
            await serving
        return answer
    finally:
        app.state.closing.set()
        server.should_exit = True
        try:
            await asyncio.wait_for(serving, 10)
        except (asyncio.TimeoutError, Exception):
            serving.cancel()
        await manager.shutdown()
