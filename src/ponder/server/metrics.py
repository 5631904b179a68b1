"""The server's Prometheus metrics (its own registry): requests and their latency, tokens, the queue, and the
engine's rows and aborted samples, read from the runtime when scraped."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ponder.server.serving import Serving


class Metrics:
    """What /metrics exposes of one server."""

    def __init__(self, serving: Serving):
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("ponder_requests", "HTTP requests by route and status", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("ponder_request_latency_seconds", "Time from a slot to the last run decided",
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=self.registry)
        self.tokens = Counter("ponder_tokens", "Tokens spent, every sample counted", ["kind"], registry=self.registry)
        for kind in ("prompt", "generated"):  # exported from the start, as 0, so a scrape before and after counts
            self.tokens.labels(kind)
        self.refused = Counter("ponder_requests_refused", "Requests refused with 429 (queue full)",
                               registry=self.registry)
        self.registry.register(LoadCollector(serving))

    def done(self, prompt: int, generated: int, seconds: float) -> None:
        """A request served (or cut off): the tokens it spent and its time from its slot."""
        self.latency.observe(seconds)
        self.tokens.labels("prompt").inc(prompt)
        self.tokens.labels("generated").inc(generated)

    def scored(self, prompt: int) -> None:
        """A prompt scored (echo): its tokens are computed as a prompt's."""
        self.tokens.labels("prompt").inc(prompt)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class LoadCollector:
    """The queue and the engine's load, read at each scrape (a gauge set per request would go stale)."""

    def __init__(self, serving: Serving):
        self.serving = serving

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield GaugeMetricFamily("ponder_queue_depth", "Requests waiting for a slot", value=self.serving.waiting)
        load = self.serving.runtime.load()
        if load:
            yield GaugeMetricFamily("ponder_engine_active_rows", "Samples decoding in the engine's batch",
                                    value=load["active_rows"])
            yield GaugeMetricFamily("ponder_engine_waiting_rows", "Samples waiting to join the batch",
                                    value=load["waiting_rows"])
            yield CounterMetricFamily("ponder_samples_aborted", "Samples stopped before their end (decided "
                                      "strategies, clients gone)", value=load["samples_aborted"])
            yield CounterMetricFamily("ponder_engine_tokens_generated", "Tokens the engine sampled, those of "
                                      "samples later aborted too", value=load["tokens_generated"])
