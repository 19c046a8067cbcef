"""The terminal status view: folding events into cluster statuses, and the tables drawn from them."""

from __future__ import annotations

import io

from rich.console import Console

from odyssai.watch import apply_event, event_lines, render_state, request_counts


def hello(*ranks_phase: str):
    return {"type": "hello", "clusters": [{
        "cluster": "lab", "backend": "ring", "phase": "unloaded", "model": None, "sharding": None, "error": None,
        "requests": {"in_flight": 0, "queued": 0, "open": 0}, "generation_tps": 0.0, "counters": {"requests": 0},
        "ranks": [{"rank": i, "node": f"n{i}", "phase": p, "progress": {}, "error": None, "history": [p]}
                  for i, p in enumerate(ranks_phase)]}]}


def fold(*events):
    state: dict = {}
    for e in events:
        apply_event(state, {"cluster": "lab", **e})
    return state


def text(state) -> str:
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(render_state(state))
    return out.getvalue()


LOAD = [{"type": "cluster_phase", "phase": "loading", "model": "tiny"},
        {"type": "rank_phase", "rank": 0, "phase": "starting"}, {"type": "rank_phase", "rank": 1, "phase": "starting"},
        {"type": "rank_phase", "rank": 0, "phase": "loading"},
        {"type": "load_progress", "rank": 0, "done": 1, "total": 3, "what": "weights"},
        {"type": "plan", "plan": {"strategy": "pipeline", "n_ranks": 2, "summary": "pipeline: n0 0, n1 1",
                                  "ranks": [{"layers": [0, 1]}, {"layers": [1, 2]}]}}]


def test_hello_replaces_the_state_with_its_statuses():
    state = fold(hello("idle", "idle"), hello("stopped"))
    assert [r["phase"] for r in state["lab"]["ranks"]] == ["stopped"]


def test_a_new_load_resets_the_ranks_and_events_move_them_on():
    state = fold(hello("failed", "stopped"), *LOAD)
    st = state["lab"]
    assert st["phase"] == "loading" and st["model"] == "tiny"
    assert [r["history"] for r in st["ranks"]] == [["starting", "loading"], ["starting"]]
    assert st["ranks"][0]["progress"] == {"done": 1, "total": 3, "what": "weights"}
    assert st["sharding"]["strategy"] == "pipeline"


def test_token_rates_show_while_requests_are_open_and_stop_when_they_are_done():
    state = fold(hello("idle", "idle"), {"type": "cluster_phase", "phase": "idle", "model": "tiny"},
                 {"type": "token_rate", "tps": 88.5, "active": 2, "waiting": 1})
    assert request_counts(state["lab"]) == (2, 1, 88.5)
    for _ in range(3):
        apply_event(state, {"type": "request_done", "cluster": "lab", "completion_tokens": 4})
    assert request_counts(state["lab"]) == (0, 0, 0.0)
    assert state["lab"]["counters"]["requests"] == 3


def test_events_of_unknown_clusters_or_ranks_are_ignored():
    state = fold(hello("idle"), {"type": "rank_phase", "rank": 5, "phase": "idle"})
    apply_event(state, {"type": "rank_phase", "cluster": "zzz", "rank": 0, "phase": "failed"})
    assert [r["phase"] for r in state["lab"]["ranks"]] == ["idle"]


def test_the_table_shows_phases_layers_progress_and_the_error_with_its_remedy():
    state = fold(hello("stopped", "stopped"), *LOAD,
                 {"type": "error", "message": "boom", "error": {"message": "a peer refused", "remedy": "check the cable"}})
    out = text(state)
    assert "lab: loading" in out and "model=tiny" in out
    assert "0-0" in out and "1/3 weights" in out and "pipeline: n0 0, n1 1" in out
    assert "error: a peer refused" in out and "what to do: check the cable" in out


def test_a_reboot_in_progress_is_shown_under_its_cluster():
    state = fold(hello("stopped"), {"type": "cluster_phase", "phase": "rebooting", "model": "tiny"},
                 {"type": "reboot", "phase": "down", "node": "n0"})
    assert "reboot: down n0" in text(state)


def test_requests_settle_to_zero_once_token_rates_stop_coming():
    from odyssai.watch import RATE_SILENCE, settle

    state = fold(hello("idle"), {"type": "token_rate", "tps": 50.0, "active": 1, "waiting": 0})
    seen = {"lab": 100.0}
    settle(state, seen, 100.0 + RATE_SILENCE / 2)
    assert request_counts(state["lab"]) == (1, 0, 50.0)
    settle(state, seen, 100.0 + RATE_SILENCE)
    assert request_counts(state["lab"]) == (0, 0, 0.0) and seen == {}


# -- the line-per-event view (status --watch into a pipe or a file) ----------------------------------
def lines(*events) -> list[str]:
    """What the line view prints for ``events`` (without the time stamps)."""
    state: dict = {}
    out = []
    for e in events:
        e = e if e["type"] == "hello" else {"cluster": "lab", **e}
        apply_event(state, e)
        out += event_lines(state, e)
    return out


def test_each_event_becomes_a_line_of_the_state_it_led_to():
    got = lines(hello("stopped", "stopped"), *LOAD, {"type": "rank_phase", "rank": 0, "phase": "idle"},
                {"type": "cluster_phase", "phase": "idle", "model": "tiny"})
    assert got == ["lab: unloaded  model=-  backend=ring", "lab rank 0 (n0): stopped", "lab rank 1 (n1): stopped",
                   "lab: loading  model=tiny  backend=ring",
                   "lab rank 0 (n0): starting", "lab rank 1 (n1): starting", "lab rank 0 (n0): loading",
                   "lab rank 0 (n0): loading 1/3 weights", "lab: plan pipeline: n0 0, n1 1",
                   "lab rank 0 (n0): idle", "lab: idle  model=tiny  backend=ring"]


def test_the_lines_follow_the_folded_state_not_just_the_event():
    # a rank event of a rank the state does not know prints nothing, an unknown cluster neither
    assert lines(hello("idle"), {"type": "rank_phase", "rank": 3, "phase": "failed"}) == [
        "lab: unloaded  model=-  backend=ring", "lab rank 0 (n0): idle"]
    assert event_lines({}, {"type": "cluster_phase", "cluster": "zzz", "phase": "idle"}) == []


def test_requests_errors_and_reboots_read_as_lines():
    got = lines(hello("idle"), {"type": "cluster_phase", "phase": "idle", "model": "tiny"},
                {"type": "token_rate", "tps": 12.25, "active": 1, "waiting": 2},
                {"type": "request_done", "completion_tokens": 7, "finish_reason": "length"},
                {"type": "error", "error": {"message": "a peer refused", "remedy": "check the cable"}},
                {"type": "rank_phase", "rank": 0, "phase": "failed"},
                {"type": "reboot", "phase": "down", "node": "n0"}, {"type": "disconnected"})[3:]
    assert got == ["lab: generating  model=tiny  backend=ring  12.2 tokens/s  in flight 1  queued 2",
                   "lab: request done (7 tokens, length); 1 served",
                   "lab: error: a peer refused", "lab: what to do: check the cable",
                   "lab rank 0 (n0): failed", "lab: reboot: down n0", "lost the server; reconnecting…"]


def test_watch_prints_lines_when_its_output_is_not_a_terminal(monkeypatch):
    import odyssai.watch as watch

    def events(client, **kw):
        yield hello("stopped")
        yield {"type": "cluster_phase", "cluster": "lab", "phase": "loading", "model": "tiny", "time": 0}
        raise KeyboardInterrupt

    monkeypatch.setattr(watch, "stream_events", events)
    out = io.StringIO()
    watch.watch_status(object(), "lab", Console(file=out, width=40, color_system=None))
    printed = out.getvalue().splitlines()
    assert [l.split(" ", 1)[1] for l in printed] == [  # one line each, unwrapped
        "lab: unloaded  model=-  backend=ring", "lab rank 0 (n0): stopped", "lab: loading  model=tiny  backend=ring"]
    assert all(len(l.split(" ", 1)[0]) == 8 for l in printed)  # HH:MM:SS
