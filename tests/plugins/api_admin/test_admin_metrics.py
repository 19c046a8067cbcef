"""Metrics: the Prometheus text format, and what Telemetry counts from events and statuses."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from odyssai_api_admin.metrics import Family, format_value, render
from odyssai_api_admin.telemetry import Telemetry, live_tps, request_counts


def parse(text: str) -> dict[str, dict]:
    """{sample name: {frozenset(labels.items()): value}} of an exposition text."""
    out: dict[str, dict] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def one(samples: dict, **labels) -> float:
    return samples[frozenset({k: str(v) for k, v in labels.items()}.items())]


def status(name="lab", phase="idle", ranks=("idle", "idle"), open_=0, queued=0, tps=0.0, model="tiny"):
    return {"cluster": name, "phase": phase, "model": model, "generation_tps": tps,
            "requests": {"in_flight": 0, "queued": queued, "open": open_},
            "ranks": [{"rank": i, "node": f"n{i}", "phase": p} for i, p in enumerate(ranks)]}


def done(cluster="lab", model="tiny", reason="length", prompt=7, completion=20, ttft=0.05, seconds=0.4):
    return {"type": "request_done", "cluster": cluster, "model": model, "finish_reason": reason,
            "prompt_tokens": prompt, "completion_tokens": completion, "ttft": ttft, "seconds": seconds}


def test_values_are_written_as_prometheus_writes_them():
    assert [format_value(v) for v in (3, 2.5, math.inf, -math.inf)] == ["3", "2.5", "+Inf", "-Inf"]
    assert format_value(math.nan) == "NaN"


def test_label_values_with_quotes_backslashes_and_newlines_survive_parsing():
    f = Family("x_total", "help with \\ and\nnewline", "counter", ("what",))
    f.inc(what='a "quoted"\\ value\nwith a newline')
    (fam,) = text_string_to_metric_families(render([f]))
    assert fam.samples[0].labels == {"what": 'a "quoted"\\ value\nwith a newline'}
    assert fam.documentation == "help with \\ and\nnewline"


def test_a_histogram_has_cumulative_buckets_sum_and_count():
    h = Family("lat_seconds", "latency", "histogram", ("c",), (0.1, 1.0))
    for v in (0.05, 0.5, 5.0):
        h.observe(v, c="a")
    s = parse(render([h]))
    assert [one(s["lat_seconds_bucket"], c="a", le=le) for le in ("0.1", "1", "+Inf")] == [1, 2, 3]
    assert one(s["lat_seconds_count"], c="a") == 3 and one(s["lat_seconds_sum"], c="a") == pytest.approx(5.55)


def test_families_refuse_the_wrong_operation_or_labels():
    with pytest.raises(ValueError):
        Family("g", "g", "gauge").inc()
    with pytest.raises(ValueError):
        Family("c_total", "c", "counter", ("a",)).inc(b="x")
    with pytest.raises(ValueError):
        Family("c_total", "c", "counter").inc(-1)


def test_finished_requests_move_the_request_token_and_latency_metrics_per_cluster_and_model():
    t = Telemetry()
    t.observe(done())
    t.observe(done(prompt=3, completion=5, ttft=0.2, seconds=1.5))
    t.observe(done(model="other", reason="stop"))
    s = parse(t.render([]))
    assert one(s["odyssai_requests_total"], cluster="lab", model="tiny", finish_reason="length") == 2
    assert one(s["odyssai_requests_total"], cluster="lab", model="other", finish_reason="stop") == 1
    assert one(s["odyssai_prompt_tokens_total"], cluster="lab", model="tiny") == 10
    assert one(s["odyssai_completion_tokens_total"], cluster="lab", model="tiny") == 25
    assert one(s["odyssai_request_seconds_count"], cluster="lab", model="tiny") == 2
    assert one(s["odyssai_request_seconds_bucket"], cluster="lab", model="tiny", le="0.5") == 1
    assert one(s["odyssai_time_to_first_token_seconds_sum"], cluster="lab", model="tiny") == pytest.approx(0.25)


def test_failed_loads_and_failed_requests_count_as_errors_by_kind():
    t = Telemetry()
    t.observe({"type": "error", "cluster": "lab", "message": "x", "error": {"kind": "peer_refused"}})
    t.observe({"type": "error", "cluster": "lab", "message": "y", "error": {"message": "y"}})
    t.observe(done(reason="error", completion=0))
    s = parse(t.render([]))
    assert one(s["odyssai_errors_total"], cluster="lab", kind="peer_refused") == 1
    assert one(s["odyssai_errors_total"], cluster="lab", kind="error") == 1
    assert one(s["odyssai_errors_total"], cluster="lab", kind="request") == 1
    assert "odyssai_request_seconds_count" not in s  # a failed request is no latency sample


def test_reboots_are_counted_once_per_reboot_not_per_progress_event():
    t = Telemetry()
    for phase in ("started", "rebooting", "down", "back"):
        t.observe({"type": "reboot", "cluster": "lab", "phase": phase})
    assert one(parse(t.render([]))["odyssai_reboots_total"], cluster="lab") == 1


def test_cluster_and_rank_phases_are_one_hot_gauges():
    s = parse(Telemetry().render([status(phase="loading", ranks=("idle", "loading"))]))
    phases = s["odyssai_cluster_phase"]
    assert [dict(k)["phase"] for k, v in phases.items() if v == 1] == ["loading"]
    assert sum(phases.values()) == 1
    ranks = s["odyssai_rank_phase"]
    assert one(ranks, cluster="lab", rank=0, node="n0", phase="idle") == 1
    assert one(ranks, cluster="lab", rank=1, node="n1", phase="loading") == 1
    assert sum(ranks.values()) == 2
    assert one(s["odyssai_model_loaded"], cluster="lab", model="tiny") == 1


def test_tokens_per_second_and_requests_come_from_open_requests():
    st = status(open_=3, queued=1, tps=42.5)
    assert request_counts(st) == (2, 1) and live_tps(st) == 42.5
    s = parse(Telemetry().render([st]))
    assert one(s["odyssai_generation_tokens_per_second"], cluster="lab") == 42.5
    assert one(s["odyssai_requests_in_flight"], cluster="lab") == 2
    assert one(s["odyssai_requests_queued"], cluster="lab") == 1


def test_the_last_tokens_per_second_of_a_finished_batch_is_not_reported_as_current():
    st = status(open_=0, queued=1, tps=42.5)  # the runner's last Stats, sent while it still generated
    assert request_counts(st) == (0, 0) and live_tps(st) == 0.0


def test_the_open_event_streams_are_a_gauge():
    t = Telemetry()
    t.event_streams = 2
    assert parse(t.render([]))["odyssai_admin_event_streams"] == {frozenset(): 2}


def test_a_malformed_event_is_skipped_and_counting_goes_on():
    import asyncio

    from odyssai.events import EventBus

    async def run():
        t, bus = Telemetry(), EventBus()
        task = asyncio.create_task(t.run(bus))
        await asyncio.sleep(0)
        bus.publish("request_done", cluster="lab", model="tiny", finish_reason="stop", prompt_tokens="many")
        bus.publish("request_done", cluster="lab", model="tiny", finish_reason="stop", prompt_tokens=2,
                    completion_tokens=3, ttft=0.1, seconds=0.2)
        for _ in range(10):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return parse(t.render([]))

    s = asyncio.run(run())
    assert one(s["odyssai_requests_total"], cluster="lab", model="tiny", finish_reason="stop") == 1
    assert one(s["odyssai_completion_tokens_total"], cluster="lab", model="tiny") == 3
