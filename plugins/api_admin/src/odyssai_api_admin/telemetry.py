"""What ``GET /metrics`` reports: counters fed by the event bus, gauges read from the clusters.

``Telemetry.observe(event)`` counts finished requests, their tokens and latencies (from
``request_done``) and errors (``error`` events, and requests that finished with an error), per
cluster and model. ``Telemetry.render(statuses)`` adds gauges read from each cluster's status
at scrape time: one-hot phases of clusters and ranks, tokens/s, requests in flight and queued.
``reboot`` events that start a reboot are counted too. Both are pure; ``run(bus)`` is the small loop that feeds ``observe`` inside the server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from odyssai.protocol import PHASES

from .metrics import Family, render

log = logging.getLogger("odyssai.metrics")
CLUSTER_PHASES = ("unloaded", "loading", "idle", "generating", "failed", "stopping", "rebooting")
REQUEST_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def request_counts(status: dict[str, Any]) -> tuple[int, int]:
    """(in flight, queued) of a cluster status, from the orchestrator's open requests.

    The runner's ``Stats`` are sent only while it generates, so its last ``active``/``waiting``
    stay behind after the batch empties; the orchestrator's ``open`` count does not.
    """
    req = status.get("requests") or {}
    open_ = int(req.get("open") or 0)
    queued = min(int(req.get("queued") or 0), open_)
    return open_ - queued, queued


def live_tps(status: dict[str, Any]) -> float:
    """Generation tokens/s now: the last Stats while requests are open, else 0."""
    return float(status.get("generation_tps") or 0.0) if request_counts(status)[0] else 0.0


class Telemetry:
    """The metrics of one server."""

    def __init__(self) -> None:
        self.event_streams = 0  # open GET /admin/events streams
        self.requests = Family("odyssai_requests_total", "Requests finished, by cluster, model and finish reason.",
                               "counter", ("cluster", "model", "finish_reason"))
        self.prompt_tokens = Family("odyssai_prompt_tokens_total", "Prompt tokens of finished requests.",
                                    "counter", ("cluster", "model"))
        self.completion_tokens = Family("odyssai_completion_tokens_total", "Tokens generated for finished requests.",
                                        "counter", ("cluster", "model"))
        self.errors = Family("odyssai_errors_total", "Errors: failed loads, failed ranks, requests that failed.",
                             "counter", ("cluster", "kind"))
        self.reboots = Family("odyssai_reboots_total", "Reboots of a cluster's nodes started (dashboard, API or "
                              "automatic remediation).", "counter", ("cluster",))
        self.seconds = Family("odyssai_request_seconds", "Time from admission to the last token, in seconds.",
                              "histogram", ("cluster", "model"), REQUEST_BUCKETS)
        self.ttft = Family("odyssai_time_to_first_token_seconds", "Time to the first generated token, in seconds.",
                           "histogram", ("cluster", "model"), TTFT_BUCKETS)

    # -- counting events ------------------------------------------------------------------
    def observe(self, event: dict[str, Any]) -> None:
        kind, cluster = event.get("type"), event.get("cluster", "")
        if kind == "request_done":
            model = event.get("model") or ""
            reason = event.get("finish_reason") or "unknown"
            prompt = max(0, int(event.get("prompt_tokens") or 0))  # read everything before counting anything
            completion = max(0, int(event.get("completion_tokens") or 0))
            seconds = None if event.get("seconds") is None else max(0.0, float(event["seconds"]))
            ttft = max(0.0, float(event.get("ttft") or 0.0))
            self.requests.inc(cluster=cluster, model=model, finish_reason=reason)
            self.prompt_tokens.inc(prompt, cluster=cluster, model=model)
            self.completion_tokens.inc(completion, cluster=cluster, model=model)
            if reason == "error":
                self.errors.inc(cluster=cluster, kind="request")
                return
            if seconds is not None:
                self.seconds.observe(seconds, cluster=cluster, model=model)
            if completion and ttft:
                self.ttft.observe(ttft, cluster=cluster, model=model)
        elif kind == "error":
            error = event.get("error") or {}
            self.errors.inc(cluster=cluster, kind=str(error.get("kind") or "error"))
        elif kind == "reboot" and event.get("phase") == "started":
            self.reboots.inc(cluster=cluster)

    async def run(self, bus: Any) -> None:
        """Observe every event of ``bus`` until cancelled."""
        q = bus.open()
        try:
            while True:
                event = await q.get()
                try:
                    self.observe(event)
                except (TypeError, ValueError) as e:  # one malformed event must not stop the counting
                    log.warning("metrics: skipped a malformed %s event: %s", event.get("type"), e)
        except asyncio.CancelledError:
            pass
        finally:
            bus.close(q)

    # -- a scrape ---------------------------------------------------------------------------
    def gauges(self, statuses: list[dict[str, Any]]) -> list[Family]:
        cphase = Family("odyssai_cluster_phase", "1 for the phase each cluster is in, else 0.", "gauge",
                        ("cluster", "phase"))
        rphase = Family("odyssai_rank_phase", "1 for the phase each rank is in, else 0.", "gauge",
                        ("cluster", "rank", "node", "phase"))
        loaded = Family("odyssai_model_loaded", "1 for the model a cluster has loaded (or is loading).", "gauge",
                        ("cluster", "model"))
        tps = Family("odyssai_generation_tokens_per_second", "Tokens/s a cluster generates now.", "gauge",
                     ("cluster",))
        in_flight = Family("odyssai_requests_in_flight", "Requests being generated now.", "gauge", ("cluster",))
        queued = Family("odyssai_requests_queued", "Requests admitted, waiting for a batch slot.", "gauge",
                        ("cluster",))
        streams = Family("odyssai_admin_event_streams", "Open GET /admin/events streams.", "gauge")
        streams.set(self.event_streams)
        for st in statuses:
            name = st["cluster"]
            phases = CLUSTER_PHASES + (() if st["phase"] in CLUSTER_PHASES else (st["phase"],))
            for p in phases:
                cphase.set(1 if st["phase"] == p else 0, cluster=name, phase=p)
            for r in st.get("ranks", []):
                for p in PHASES:
                    rphase.set(1 if r["phase"] == p else 0, cluster=name, rank=r["rank"], node=r["node"], phase=p)
            if st.get("model"):
                loaded.set(1, cluster=name, model=st["model"])
            flying, waiting = request_counts(st)
            tps.set(live_tps(st), cluster=name)
            in_flight.set(flying, cluster=name)
            queued.set(waiting, cluster=name)
        return [cphase, rphase, loaded, tps, in_flight, queued, streams]

    def render(self, statuses: list[dict[str, Any]]) -> str:
        counters = [self.requests, self.prompt_tokens, self.completion_tokens, self.errors, self.reboots,
                    self.seconds, self.ttft]
        return render(counters + self.gauges(statuses))
