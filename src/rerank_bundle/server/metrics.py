"""Prometheus metrics, in a registry of the app's own (several apps can live in one process).

Requests by route and status, failures by error type, latency, requests in flight; per
model the batch queue depth, batch sizes and tokens (from the batcher's `on_batch` hook)
and where each request's time went (tokenization, queue, inference); async jobs by status.
"""
from __future__ import annotations

from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..batching import BatchStats
from ..types import Timings

_PREFIX = "rerank_bundle"
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_TOKENS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(f"{_PREFIX}_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.failures = Counter(
            f"{_PREFIX}_request_failures", "Failed requests by route and error type", ["route", "error_type"], registry=r
        )
        self.latency = Histogram(
            f"{_PREFIX}_request_duration_seconds", "Request latency", ["route"], buckets=_SECONDS, registry=r
        )
        self.in_flight = Gauge(f"{_PREFIX}_requests_in_flight", "Requests being handled", registry=r)
        self.queue_size = Gauge(f"{_PREFIX}_queue_size", "Requests in a model's batch queue", ["model"], registry=r)
        self.batch_size = Histogram(f"{_PREFIX}_batch_size", "Items per forward pass", ["model"], buckets=_SIZES, registry=r)
        self.batch_tokens = Histogram(
            f"{_PREFIX}_batch_tokens", "Real tokens per forward pass", ["model"], buckets=_TOKENS, registry=r
        )
        self.batch_padded_tokens = Histogram(
            f"{_PREFIX}_batch_padded_tokens", "Padded tokens per forward pass", ["model"], buckets=_TOKENS, registry=r
        )
        self.batch_seconds = Histogram(
            f"{_PREFIX}_batch_inference_seconds", "Engine time per forward pass", ["model"], buckets=_SECONDS, registry=r
        )
        self.phase_seconds = {
            phase: Histogram(
                f"{_PREFIX}_{phase}_seconds", f"Per-request {phase} time", ["model"], buckets=_SECONDS, registry=r
            )
            for phase in ("tokenization", "queue", "inference")
        }
        self.prompt_tokens = Counter(f"{_PREFIX}_prompt_tokens", "Tokens processed", ["model"], registry=r)
        self.async_jobs = Gauge(f"{_PREFIX}_async_jobs", "Async jobs kept, by status", ["status"], registry=r)

    def batch_observer(self, model: str) -> Callable[[BatchStats], None]:
        """The batcher's `on_batch` hook for one model (runs on the batcher's worker thread)."""
        size, tokens = self.batch_size.labels(model), self.batch_tokens.labels(model)
        padded, seconds = self.batch_padded_tokens.labels(model), self.batch_seconds.labels(model)

        def observe(stats: BatchStats) -> None:
            size.observe(stats.size)
            tokens.observe(stats.tokens)
            padded.observe(stats.padded_tokens)
            seconds.observe(stats.inference_seconds)

        return observe

    def watch_queue(self, model: str, depth: Callable[[], int]) -> None:
        self.queue_size.labels(model).set_function(depth)

    def observe_result(self, model: str, timings: Timings, prompt_tokens: int) -> None:
        self.phase_seconds["tokenization"].labels(model).observe(timings.tokenization_seconds)
        self.phase_seconds["queue"].labels(model).observe(timings.queue_seconds)
        self.phase_seconds["inference"].labels(model).observe(timings.inference_seconds)
        self.prompt_tokens.labels(model).inc(prompt_tokens)

    def observe_request(self, route: str, status: int, seconds: float, error_type: str | None) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if error_type:
            self.failures.labels(route, error_type).inc()

    def set_job_counts(self, counts: dict[str, int]) -> None:
        for status, count in counts.items():
            self.async_jobs.labels(status).set(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
