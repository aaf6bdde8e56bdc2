"""Prometheus metrics: per-endpoint requests and latency, inference, the loaded versions and the job queue.

Each app owns a CollectorRegistry (tests build many apps in one process). Inference counters are
process-wide because the engine counts them below the routes; each app's registry re-exports them. Version and
queue figures are read at scrape time, so they are never stale and cost nothing between scrapes.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models import logs

log = logging.getLogger("app.access")

_INFERENCE = CollectorRegistry(auto_describe=True)
IMAGES = Counter("gan_images_generated_total", "Images generated, by model", ["model"], registry=_INFERENCE)
BATCH = Histogram("gan_inference_batch_size", "Images per generator forward pass", ["model"],
                  buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=_INFERENCE)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # echoed into logs and headers: keep it inert


def record_inference(model: str, batch: int) -> None:
    IMAGES.labels(model).inc(batch)
    BATCH.labels(model).observe(batch)


class _Reexport:
    """Another registry's families, collected into this one."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()


class _CatalogAndQueue:
    """Read at scrape time from the app's catalog of versions and its job queue."""

    def __init__(self, app_state):
        self.state = app_state

    def collect(self):
        serving = getattr(self.state, "serving", None)
        if serving is not None:
            loaded = GaugeMetricFamily("gan_model_versions_loaded", "Generator versions held in memory",
                                       labels=["model", "version"])
            for version in serving.catalog.loaded():
                loaded.add_metric([version.name, version.version], 1)
            yield loaded
            swaps = CounterMetricFamily("gan_model_swaps", "Hot swaps of a model's latest version")
            swaps.add_metric([], serving.catalog.swaps)
            yield swaps
        queue = getattr(self.state, "queue", None)
        if queue is not None:
            up = GaugeMetricFamily("gan_redis_up", "Whether the job queue's Redis answered this scrape")
            counts = queue.counts_by_state()
            up.add_metric([], 0 if counts is None else 1)
            yield up
            if counts is not None:
                jobs = GaugeMetricFamily("gan_training_jobs", "Training jobs by queue and state",
                                         labels=["queue", "state"])
                length = GaugeMetricFamily("gan_queue_length", "Training jobs waiting for a worker",
                                           labels=["queue"])
                for name, states in counts.items():
                    for state, n in states.items():
                        jobs.add_metric([name, state], n)
                    length.add_metric([name], states["queued"])
                yield jobs
                yield length


class Metrics:
    def __init__(self, app_state):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("gan_http_requests_total", "HTTP requests by endpoint, method and status",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("gan_http_request_duration_seconds", "HTTP request latency by endpoint",
                                 ["endpoint", "method"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.registry.register(_Reexport(_INFERENCE))
        self.registry.register(_CatalogAndQueue(app_state))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def endpoint_of(scope: Scope, root_path: str) -> str:
    """The route template (`/models/{name}/seeds/{seed}.png`), never the raw path: bounded label values.

    A mount (the static files) has no route in the scope but extends its root path: it is named by that.
    """
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if path:
        return path
    mounted = scope.get("root_path", "")
    return mounted[len(root_path):] if mounted != root_path and mounted.startswith(root_path) else "unmatched"


LOGGED_HEADERS = {b"x-model": "model", b"x-model-version": "version"}  # response header -> log field
# a made request id: a random prefix per process and a counter, unique across replicas without reading the
# kernel's random source at every request as uuid4 does
_ID_PREFIX = secrets.token_hex(8)
_ids = itertools.count()


class RequestMiddleware:
    """Request id in and out (X-Request-ID), the request metrics, and an access log line: answers at DEBUG
    (a line per request took a fifth of the event loop's time per served image, docs/benchmarks.md, Engine),
    refusals and failures at INFO."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics
        # labels() takes a lock and builds its key at every call: each child once
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        rid = given if REQUEST_ID.match(given) else f"{_ID_PREFIX}{next(_ids):016x}"
        rid_header = (b"x-request-id", rid.encode())
        token = logs.request_id.set(rid)
        start, root_path = time.perf_counter(), scope.get("root_path", "")  # a mount changes it
        answer: list = [500, ()]  # status and headers of the response

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = answer[1] = [*message.get("headers", ()), rid_header]
                answer[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            self._record(scope, root_path, answer[0], answer[1], elapsed)
            logs.request_id.reset(token)

    def _record(self, scope: Scope, root_path: str, status: int, headers, elapsed: float) -> None:
        endpoint, method = endpoint_of(scope, root_path), scope["method"]
        counted = self._counted.get((endpoint, method, status))
        if counted is None:
            counted = self._counted[endpoint, method, status] = self.metrics.requests.labels(endpoint, method, str(status))
        timed = self._timed.get((endpoint, method))
        if timed is None:
            timed = self._timed[endpoint, method] = self.metrics.latency.labels(endpoint, method)
        counted.inc()
        timed.observe(elapsed)
        level = logging.DEBUG if status < 400 else logging.INFO
        if log.isEnabledFor(level):  # the line names the model and version that answered
            served = {LOGGED_HEADERS[k]: v.decode("latin-1") for k, v in headers if k in LOGGED_HEADERS}
            log.log(level, "%s %s %s %.1f ms", method, scope["path"], status, elapsed * 1000,
                    extra={"model": served.get("model"), "version": served.get("version"), "endpoint": endpoint,
                           "status": status, "duration_ms": round(elapsed * 1000, 2)})
