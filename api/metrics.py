"""Prometheus metrics with ``prometheus_client``, every label bounded.

Metrics (``/metrics``, text format 0.0.4, or OpenMetrics when the scraper asks for it):

* ``chronorag_http_requests_total{route, method, status}``: finished requests;
* ``chronorag_http_request_duration_seconds{route, method}``: latency to the last body byte (histogram);
* ``chronorag_http_requests_in_flight``: requests being served;
* ``chronorag_ingested_documents_total{outcome}``: documents posted to ``/v1/documents``, ``written`` or
  ``rejected``;
* ``chronorag_store_passages`` and ``chronorag_ready``: read from the store and the service at scrape time.

A client cannot grow the label set: ``route`` is the route *template* (``/v1/documents/{doc_id:path}``; any
unknown path is ``<unmatched>``), ``method`` is one of the standard methods or ``other``, and ``status``
is a code the server chose.

With several workers (``chronorag serve --workers N``) the parent points ``PROMETHEUS_MULTIPROC_DIR`` at
a fresh folder and prometheus_client's multiprocess mode sums the workers' counters, histograms and
in-flight gauges there, so any worker's ``/metrics`` describes the whole server and counters never jump
back when a scrape lands on another worker.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Seconds; spans a cached decompose (~1 ms) to a slow local LLM answer (~30 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

UNMATCHED_ROUTE = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
OTHER_METHOD = "other"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# No `*_created` series (one more per label set; multiprocess mode has none either): process-wide.
disable_created_metrics()


class _ScrapeTimeGauges(Collector):
    """Gauges whose value is read when ``/metrics`` is scraped; a ``None`` reading (or an error) leaves the
    sample out."""

    def __init__(self) -> None:
        self.readers: dict[str, tuple[str, Callable[[], float | None]]] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (help_text, read) in sorted(self.readers.items()):
            family = GaugeMetricFamily(name, help_text)
            value = _safe_read(read)
            if value is not None:
                family.add_metric([], float(value))
            yield family


def _safe_read(read: Callable[[], float | None]) -> float | None:
    # A scrape must never fail because, say, the store is still opening.
    try:
        return read()
    except Exception:
        return None


class Metrics:
    """The app's metrics and their exposition.

    :param multiprocess: record into prometheus_client's multiprocess folder and expose the sum over all
        processes; default: whether ``PROMETHEUS_MULTIPROC_DIR`` is set.
    """

    def __init__(self, multiprocess: bool | None = None) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV)) if multiprocess is None else multiprocess
        self.registry = CollectorRegistry(auto_describe=True)
        if self.multiprocess:
            from prometheus_client import multiprocess as mp

            mp.MultiProcessCollector(self.registry)
        # Multiprocess values live in the folder's files, collected above; registering them too would
        # expose this process's share a second time.
        own = None if self.multiprocess else self.registry
        self.requests = Counter(
            "chronorag_http_requests",
            "HTTP requests by route template, method and status.",
            ("route", "method", "status"),
            registry=own,
        )
        self.latency = Histogram(
            "chronorag_http_request_duration_seconds",
            "Request latency in seconds (to the last body byte) by route template and method.",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self.in_flight = Gauge(
            "chronorag_http_requests_in_flight",
            "Requests being served now.",
            registry=own,
            multiprocess_mode="livesum",
        )
        self.ingested = Counter(
            "chronorag_ingested_documents",
            "Documents posted to /v1/documents by outcome.",
            ("outcome",),
            registry=own,
        )
        for outcome in ("written", "rejected"):
            self.ingested.labels(outcome)  # exposed as 0 before the first ingest
        self._gauges = _ScrapeTimeGauges()
        self.registry.register(self._gauges)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request and record its latency.

        :param route: the route template.
        :param method: the HTTP method as the client sent it (unknown ones are counted as ``other``).
        :param status: the response status.
        :param seconds: the wall time from request start to the last body byte.
        """
        method = method if method in KNOWN_METHODS else OTHER_METHOD
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def count_ingested(self, written: int, rejected: int) -> None:
        """Count the outcome of one ingest request.

        :param written: documents written (or unchanged).
        :param rejected: documents rejected.
        """
        self.ingested.labels("written").inc(written)
        self.ingested.labels("rejected").inc(rejected)

    def register_gauge(self, name: str, help_text: str, read: Callable[[], float | None]) -> None:
        """Register a gauge read at scrape time; a ``None`` reading (or an error) leaves it out.

        :param name: the metric name.
        :param help_text: the HELP line.
        :param read: returns the current value.
        """
        self._gauges.readers[name] = (help_text, read)

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition of every metric, in the format the scraper asked for.

        :param accept: the request's ``Accept`` header.
        :returns: the body and its content type (text format 0.0.4 unless OpenMetrics was asked for).
        """
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    def process_exited(self) -> None:
        """Drop this process's live gauges from the multiprocess folder (a worker shutting down)."""
        if self.multiprocess:
            from prometheus_client import multiprocess as mp

            mp.mark_process_dead(os.getpid())


class MetricsMiddleware:
    """Time every HTTP request to its last body byte (streams included) and count it by route template.

    :param app: the wrapped ASGI app.
    :param metrics: where to record.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            # An exception escaping here is answered 500 by the outer error middleware: count it as such.
            self.metrics.in_flight.dec()
            self.metrics.observe_request(
                _route_template(scope), scope.get("method", ""), status["code"], time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE
