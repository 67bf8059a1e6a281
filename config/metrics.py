"""Prometheus metrics (prometheus-client): the registry each process exposes, the web's /metrics view and
request metrics, and the HTTP server of the processes that serve no pages (worker, session host).

A process whose work is spread over forked children (the Celery worker's pool, the session host's keepers)
runs with PROMETHEUS_MULTIPROC_DIR set (docker-compose.yml sets it for those services): each child writes
its samples there and the parent's endpoint adds them up (prometheus-client's multiprocess mode). Without
it every process keeps its own, which is right for a single process (make run, the web). docs/deployment.md
lists every metric and what to alert on.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import os
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from config.http import plain

HTTP_REQUESTS = Counter(
    "baselines_http_requests_total", "HTTP requests answered by the web process", ["method", "view", "status"]
)
HTTP_SECONDS = Histogram(
    "baselines_http_request_seconds",
    "Time to answer an HTTP request (the view and its middleware)",
    ["method", "view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


JOB_SECONDS = Histogram(
    "baselines_job_seconds",
    "Time a background job ran, by task (baselining.score_session: scoring; tasks.run_import_job: imports)",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
JOBS = Counter(
    "baselines_jobs_total",
    "Background jobs finished, by task and state (SUCCESS, FAILURE)",
    ["task", "state"],
)


class QueueDepth(Collector):
    """Jobs waiting in the broker's queues (Redis lists), read when scraped."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "baselines_job_queue_depth", "Jobs waiting in the broker's queue", labels=["queue"]
        )
        queue = self.app.conf.task_default_queue or "celery"
        with contextlib.suppress(Exception), self.app.connection_for_read() as conn:
            family.add_metric([queue], conn.default_channel.client.llen(queue))
        yield family


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class _Living(multiprocess.MultiProcessCollector):
    """The multiprocess collector, leaving out the live gauges (live sessions, starts waiting) of
    processes that are gone: a keeper killed before it could count its session out."""

    def collect(self) -> Any:
        for path in glob.glob(os.path.join(self._path, "gauge_live*_*.db")):
            pid = path.rsplit("_", 1)[1].removesuffix(".db")
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                multiprocess.mark_process_dead(int(pid), self._path)
        return super().collect()


def registry() -> CollectorRegistry:
    """What this process's endpoint shows: its children's samples too in multiprocess mode."""
    if not multiprocess_dir():
        return REGISTRY
    collected = CollectorRegistry()
    _Living(collected)
    return collected


def serve(port: int, *extra: Collector) -> None:
    """The endpoint of a process that serves no pages (a daemon thread), with `extra` collectors; port 0:
    none."""
    if not port:
        return
    collected = registry()
    for collector in extra:
        collected.register(collector)
    start_http_server(port, addr=settings.METRICS_ADDRESS, registry=collected)


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return secrets.compare_digest(given.encode(), token.encode())
    try:  # no token set: the machine's own scraper only
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics: with `Authorization: Bearer METRICS_TOKEN`, or from loopback when no token is set."""
    if not _allowed(request):
        return plain("metrics need METRICS_TOKEN (docs/deployment.md)\n", status=403)
    return plain(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """Counts each request by method, view (the URL pattern's name, never the path: its ids would make a
    series per session) and status, and times it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match else "") or "unmatched"
        # the client chooses the method: a made-up one is "other", not a new series per request
        method = request.method if request.method in METHODS else "other"
        HTTP_SECONDS.labels(method, view).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(method, view, str(response.status_code)).inc()
        return response
