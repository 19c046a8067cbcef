"""The terminal views of the server's live events: ``odyssai status --watch`` and ``odyssai logs``.

Both read ``GET /admin/events`` (Server-Sent Events; the first event, ``hello``, holds every
cluster's status) through the CLI's ``ServerClient``. ``watch_status`` keeps a rich table per
cluster current from the events on a terminal, and prints a line per event (the state it led
to, e.g. ``two rank 1 (node2): loading 2/5 weights``) when its output is a pipe or a file, where
a redrawn table would only show its last frame. ``show_logs`` prints the ranks' stderr lines,
the history from ``GET /admin/{cluster}/logs`` and then, with ``follow``, each ``log`` event. Ctrl-C ends either
cleanly. A dropped stream is reopened (a new ``hello`` resyncs the tables). ``parse_sse`` and
``apply_event`` and ``event_lines`` are pure.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Iterator

import httpx
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from .errors import OdyssaiError

#: what the status view needs (log lines would only wake it up)
STATUS_EVENTS = ("cluster_phase", "rank_phase", "load_progress", "plan", "token_rate", "request_done", "error",
                 "reboot")
#: the server sends a keepalive comment at least this often; silence for longer means a dead stream
READ_TIMEOUT = 45.0
#: token rates come about once a second while a cluster generates; silence this long means it stopped
RATE_SILENCE = 2.5


# -- the stream ---------------------------------------------------------------------------------
def parse_sse(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Events from SSE lines: each ``data:`` JSON object, its ``type`` from the ``event:`` field."""
    kind, data = "message", []
    for line in lines:
        line = line.rstrip("\r")
        if not line:
            if data:
                event = json.loads("\n".join(data))
                yield event | {"type": event.get("type", kind)} if isinstance(event, dict) else {"type": kind}
            kind, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)


def _raise_for_status(r: httpx.Response) -> None:
    if r.status_code < 400:
        return
    r.read()
    try:
        message = r.json().get("error", {}).get("message")
    except (ValueError, AttributeError):
        message = None
    e = OdyssaiError(message or f"HTTP {r.status_code}")
    e.status = r.status_code
    raise e


def stream_events(client: Any, *, cluster: str | None = None, types: Iterable[str] | None = None,
                  retry_seconds: float = 2.0) -> Iterator[dict[str, Any]]:
    """Events of the server, forever. A lost stream yields ``{"type": "disconnected"}`` and is reopened."""
    params = {k: v for k, v in {"cluster": cluster, "types": ",".join(types) if types else None}.items() if v}
    timeout = httpx.Timeout(10.0, read=READ_TIMEOUT)
    connected_once = False
    while True:
        try:
            with client.http.stream("GET", "/admin/events", params=params, timeout=timeout) as r:
                _raise_for_status(r)
                connected_once = True
                yield from parse_sse(r.iter_lines())
        except httpx.ConnectError:
            if not connected_once:
                raise OdyssaiError(f"no OdyssAI-X server answers at {client.base_url}",
                                   hint="start it with `odyssai serve` (or pass --server URL)") from None
        except (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError):
            pass
        yield {"type": "disconnected"}
        time.sleep(retry_seconds)


# -- the status view ----------------------------------------------------------------------------
def apply_event(state: dict[str, dict[str, Any]], event: dict[str, Any]) -> None:
    """Fold one event into ``state`` (cluster name -> status dict, as ``GET /admin/{c}`` has it)."""
    kind = event.get("type")
    if kind == "hello":
        state.clear()
        state.update({s["cluster"]: s for s in event.get("clusters", [])})
        return
    st = state.get(event.get("cluster", ""))
    if st is None:
        return
    ranks = st.setdefault("ranks", [])
    i = event.get("rank")
    rank = ranks[i] if isinstance(i, int) and 0 <= i < len(ranks) else None
    requests = st.setdefault("requests", {"in_flight": 0, "queued": 0, "open": 0})
    if kind == "cluster_phase":
        if event["phase"] == "loading":
            st.update(error=None, sharding=None)
            for r in ranks:
                r.update(phase="stopped", progress={}, error=None, history=[])
        st["phase"], st["model"] = event["phase"], event.get("model")
        if event["phase"] in {"unloaded", "failed"}:
            requests.update(in_flight=0, queued=0, open=0)
    elif kind == "rank_phase" and rank is not None:
        rank["phase"] = event["phase"]
        rank.setdefault("history", []).append(event["phase"])
    elif kind == "load_progress" and rank is not None:
        rank["progress"] = {k: event.get(k) for k in ("done", "total", "what")}
    elif kind == "plan":
        st["sharding"] = event.get("plan")
    elif kind == "token_rate":
        st["generation_tps"] = event.get("tps", 0.0)
        active, waiting = int(event.get("active", 0)), int(event.get("waiting", 0))
        requests.update(in_flight=active, queued=waiting, open=max(int(requests.get("open", 0)), active + waiting))
    elif kind == "request_done":
        counters = st.setdefault("counters", {})
        counters["requests"] = counters.get("requests", 0) + 1
        requests["open"] = max(0, int(requests.get("open", 0)) - 1)
        requests["queued"] = min(int(requests.get("queued", 0)), requests["open"])
    elif kind == "error":
        st["error"] = event.get("error") or {"message": event.get("message", "")}
    elif kind == "reboot":
        who = event.get("node") or ", ".join(event.get("nodes") or [])
        st["reboot_note"] = f"reboot: {event.get('phase', '')} {who}".strip() + (
            f" ({event['error']})" if event.get("error") else "")


def request_counts(status: dict[str, Any]) -> tuple[int, int, float]:
    """(in flight, queued, tokens/s) as shown: nothing in flight means 0 tokens/s."""
    req = status.get("requests") or {}
    open_ = int(req.get("open") or 0)
    queued = min(int(req.get("queued") or 0), open_)
    flying = open_ - queued
    return flying, queued, float(status.get("generation_tps") or 0.0) if flying else 0.0


def status_table(st: dict[str, Any]) -> Table:
    flying, queued, tps = request_counts(st)
    plan = st.get("sharding") or {}
    phase = "generating" if st.get("phase") == "idle" and flying + queued else st.get("phase", "?")
    title = Text.assemble((st["cluster"], "bold"), f": {phase}  model={st.get('model') or '-'}  "
                          f"backend={st.get('backend', '?')}  {tps:.1f} tokens/s  in flight {flying}  queued {queued}")
    table = Table(title=title, title_justify="left", caption=plan.get("summary") or None, caption_justify="left")
    for col in ("rank", "node", "phase", "layers", "progress", "error"):
        table.add_column(col)
    plan_ranks = plan.get("ranks") or []
    for r in st.get("ranks", []):
        p = r.get("progress") or {}
        prog = progress_text(p)
        layers = (plan_ranks[r["rank"]] if r["rank"] < len(plan_ranks) else {}).get("layers")
        table.add_row(str(r["rank"]), r.get("node", ""), r.get("phase", ""),
                      f"{layers[0]}-{layers[1] - 1}" if layers else "", prog, (r.get("error") or {}).get("message", ""))
    return table


def render_state(state: dict[str, dict[str, Any]], note: str = "") -> Group:
    """Every cluster's table, then its last error and remedy, then ``note``."""
    parts: list[Any] = []
    for st in state.values():
        parts.append(status_table(st))
        if st.get("reboot_note") and st.get("phase") == "rebooting":
            parts.append(Text(f"  {st['reboot_note']}", style="yellow"))
        err = st.get("error")
        if err:
            parts.append(Text(f"  error: {err.get('message', '')}", style="red"))
            if err.get("remedy"):
                parts.append(Text(f"  what to do: {err['remedy']}", style="yellow"))
    if not state:
        parts.append(Text("no clusters" if not note else ""))
    if note:
        parts.append(Text(note, style="dim"))
    return Group(*parts)


def settle(state: dict[str, dict[str, Any]], rate_seen: dict[str, float], now: float) -> None:
    """Zero the requests of clusters whose token rates stopped ``RATE_SILENCE`` seconds ago.

    The runner reports while anything is active or waiting, and a cancelled request ends
    without a ``request_done``, so silence is the sign that the batch emptied.
    """
    for name, seen in list(rate_seen.items()):
        if now - seen >= RATE_SILENCE and name in state:
            state[name]["requests"] = {"in_flight": 0, "queued": 0, "open": 0}
            del rate_seen[name]


def progress_text(p: dict[str, Any]) -> str:
    """A rank's load progress as ``done/total what`` (empty when there is none)."""
    return f"{p.get('done', 0)}/{p.get('total', 0)} {p.get('what') or ''}".strip() if p.get("total") else ""


def _cluster_line(st: dict[str, Any]) -> str:
    flying, queued, tps = request_counts(st)
    phase = "generating" if st.get("phase") == "idle" and flying + queued else st.get("phase", "?")
    return (f"{st['cluster']}: {phase}  model={st.get('model') or '-'}  backend={st.get('backend', '?')}"
            + (f"  {tps:.1f} tokens/s  in flight {flying}  queued {queued}" if flying + queued else ""))


def _rank_line(st: dict[str, Any], r: dict[str, Any]) -> str:
    prog = progress_text(r.get("progress") or {}) if r.get("phase") == "loading" else ""
    err = (r.get("error") or {}).get("message") if r.get("phase") == "failed" else None
    return (f"{st['cluster']} rank {r['rank']} ({r.get('node', '?')}): {r.get('phase', '?')}"
            + (f" {prog}" if prog else "") + (f" ({err})" if err else ""))


def event_lines(state: dict[str, dict[str, Any]], event: dict[str, Any]) -> list[str]:
    """What ``event`` changed, as log lines, read from ``state`` once ``apply_event`` folded it in.

    ``hello`` gives every cluster and rank; other events the line of what they changed.
    """
    kind = event.get("type")
    if kind == "hello":
        return [line for st in state.values() for line in
                [_cluster_line(st), *(_rank_line(st, r) for r in st.get("ranks", []))]] or ["no clusters"]
    if kind == "disconnected":
        return ["lost the server; reconnecting…"]
    st = state.get(event.get("cluster", ""))
    if st is None:
        return []
    name, ranks, i = st["cluster"], st.get("ranks", []), event.get("rank")
    rank = ranks[i] if isinstance(i, int) and 0 <= i < len(ranks) else None
    if kind in {"rank_phase", "load_progress"}:
        return [_rank_line(st, rank)] if rank is not None else []
    if kind in {"cluster_phase", "token_rate"}:
        return [_cluster_line(st)]
    if kind == "plan":
        plan = st.get("sharding") or {}
        return [f"{name}: plan {plan.get('summary') or plan.get('strategy') or '-'}"]
    if kind == "request_done":
        done = f"{event.get('completion_tokens', '?')} tokens, {event.get('finish_reason', '?')}"
        return [f"{name}: request done ({done}); {(st.get('counters') or {}).get('requests', 0)} served"]
    if kind == "error":
        err = st.get("error") or {}
        return [f"{name}: error: {err.get('message', '')}"] + (
            [f"{name}: what to do: {err['remedy']}"] if err.get("remedy") else [])
    if kind == "reboot":
        return [f"{name}: {st.get('reboot_note', 'reboot')}"]
    return []


class _View:
    """What Live draws, computed at each refresh so that silent token rates settle to zero."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}
        self.rate_seen: dict[str, float] = {}
        self.note = "connecting…"

    def __rich__(self) -> Group:
        settle(self.state, self.rate_seen, time.monotonic())
        return render_state(self.state, self.note)


def watch_status(client: Any, cluster: str | None, console: Console) -> None:
    """A live table per cluster (or just ``cluster``), updated from events until Ctrl-C.

    When ``console`` is not a terminal: a timestamped line per event instead.
    """
    if not console.is_terminal:
        return watch_lines(client, cluster, console)
    from rich.live import Live

    view = _View()
    try:
        with Live(view, console=console, refresh_per_second=4):
            for event in stream_events(client, cluster=cluster, types=STATUS_EVENTS):
                if event["type"] == "disconnected":
                    view.note = "lost the server; reconnecting…"
                    continue
                if event["type"] == "token_rate":
                    view.rate_seen[event.get("cluster", "")] = time.monotonic()
                apply_event(view.state, event)
                view.note = "watching; Ctrl-C to stop"
    except KeyboardInterrupt:
        pass


def watch_lines(client: Any, cluster: str | None, console: Console) -> None:
    """``event_lines`` of each event, each line stamped with the event's time, until Ctrl-C."""
    state: dict[str, dict[str, Any]] = {}
    try:
        for event in stream_events(client, cluster=cluster, types=STATUS_EVENTS):
            apply_event(state, event)
            stamp = time.strftime("%H:%M:%S", time.localtime(event.get("time") or time.time()))
            for line in event_lines(state, event):
                console.print(f"{stamp} {line}", soft_wrap=True, highlight=False, markup=False)
    except KeyboardInterrupt:
        pass


# -- logs ------------------------------------------------------------------------------------------
def _print_line(console: Console, entry: dict[str, Any], nodes: dict[int, str]) -> None:
    node = entry.get("node") or nodes.get(entry.get("rank"), "?")
    console.print(Text.assemble((f"[rank {entry.get('rank')} {node}] ", "cyan"), entry.get("line", "")),
                  soft_wrap=True, highlight=False)


def show_logs(client: Any, cluster: str, *, rank: int | None = None, last: int = 200, follow: bool = False,
              console: Console) -> None:
    """The ranks' stderr lines: the last ``last`` of each, then (``follow``) new ones until Ctrl-C.

    When following, the stream is opened before the history is read, so no line falls between
    the two (one may show twice).
    """
    params = {"last": last} | ({"rank": rank} if rank is not None else {})
    try:
        events = stream_events(client, cluster=cluster, types=("log",)) if follow else None
        hello = next(events) if events else {}
        nodes = {r["rank"]: r["node"] for c in hello.get("clusters", []) for r in c.get("ranks", [])}
        for entry in client.request("GET", f"/admin/{cluster}/logs", params=params)["lines"]:
            _print_line(console, entry, nodes)
        if events is None:
            return
        for event in events:
            if event["type"] == "hello":
                nodes = {r["rank"]: r["node"] for c in event.get("clusters", []) for r in c.get("ranks", [])}
            elif event["type"] == "log" and (rank is None or event.get("rank") == rank):
                _print_line(console, event, nodes)
    except KeyboardInterrupt:
        pass
