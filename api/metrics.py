"""Prometheus metrics, written in the text exposition format (version 0.0.4) without a dependency.

Request counts and latency histograms are labelled by the route *template* (``/v1/documents/{doc_id}``),
never the raw path, so a client cannot grow the label set without bound. Gauges that describe the
store are read when ``/metrics`` is scraped.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Seconds; spans a cached decompose (~1 ms) to a slow local LLM answer (~30 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED_ROUTE = "<unmatched>"


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.buckets[index] += 1
        self.total += seconds
        self.count += 1


class Metrics:
    """Thread-safe counters, histograms and gauge callbacks, rendered as Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._help: dict[str, str] = {}
        self._in_flight = 0
        self._gauges: dict[str, tuple[str, Callable[[], float | None]]] = {}

    # --- recording -----------------------------------------------------------------------------
    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request and record its latency.

        :param route: the route template.
        :param method: the HTTP method.
        :param status: the response status.
        :param seconds: the wall time from request start to the last body byte.
        """
        with self._lock:
            key = (route, method, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._latency.setdefault((route, method), _Histogram()).observe(seconds)

    def inc(self, name: str, help_text: str, amount: float = 1.0, **labels: str) -> None:
        """Add to a named counter.

        :param name: the metric name (``chronorag_...``, ending in ``_total``).
        :param help_text: the HELP line.
        :param amount: how much to add.
        :param labels: label values.
        """
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._help[name] = help_text
            self._counters[key] = self._counters.get(key, 0.0) + amount

    def track_in_flight(self, delta: int) -> None:
        """Adjust the in-flight request gauge.

        :param delta: +1 when a request starts, -1 when it ends.
        """
        with self._lock:
            self._in_flight += delta

    def register_gauge(self, name: str, help_text: str, read: Callable[[], float | None]) -> None:
        """Register a gauge read at scrape time; a ``None`` reading (or an error) leaves it out.

        :param name: the metric name.
        :param help_text: the HELP line.
        :param read: returns the current value.
        """
        self._gauges[name] = (help_text, read)

    # --- rendering -----------------------------------------------------------------------------
    def render(self) -> str:
        """The exposition text of every metric.

        :returns: Prometheus text format 0.0.4.
        """
        with self._lock:
            requests = dict(self._requests)
            latency = {key: (list(h.buckets), h.total, h.count) for key, h in self._latency.items()}
            counters = dict(self._counters)
            help_texts = dict(self._help)
            in_flight = self._in_flight
        lines: list[str] = []
        lines += _render_requests(requests)
        lines += _render_latency(latency)
        lines += _render_counters(counters, help_texts)
        lines += _gauge_lines("chronorag_http_requests_in_flight", "Requests being served now.", in_flight)
        for name, (help_text, read) in sorted(self._gauges.items()):
            lines += _gauge_lines(name, help_text, _safe_read(read))
        return "\n".join(lines) + "\n"


def _safe_read(read: Callable[[], float | None]) -> float | None:
    # A scrape must never fail because, say, the store is still opening.
    try:
        return read()
    except Exception:
        return None


def _render_requests(requests: dict[tuple[str, str, str], int]) -> list[str]:
    lines = [
        "# HELP chronorag_http_requests_total HTTP requests by route template, method and status.",
        "# TYPE chronorag_http_requests_total counter",
    ]
    for (route, method, status), count in sorted(requests.items()):
        labels = _labels(route=route, method=method, status=status)
        lines.append(f"chronorag_http_requests_total{labels} {count}")
    return lines


def _render_latency(latency: dict[tuple[str, str], tuple[list[int], float, int]]) -> list[str]:
    name = "chronorag_http_request_duration_seconds"
    lines = [
        f"# HELP {name} Request latency in seconds (to the last body byte) by route template and method.",
        f"# TYPE {name} histogram",
    ]
    for (route, method), (buckets, total, count) in sorted(latency.items()):
        for bound, cumulative in zip(LATENCY_BUCKETS, buckets, strict=True):
            labels = _labels(route=route, method=method, le=_format_value(bound))
            lines.append(f"{name}_bucket{labels} {cumulative}")
        lines.append(f"{name}_bucket{_labels(route=route, method=method, le='+Inf')} {count}")
        lines.append(f"{name}_sum{_labels(route=route, method=method)} {_format_value(total)}")
        lines.append(f"{name}_count{_labels(route=route, method=method)} {count}")
    return lines


def _render_counters(
    counters: dict[tuple[str, tuple[tuple[str, str], ...]], float], help_texts: dict[str, str]
) -> list[str]:
    lines: list[str] = []
    for name in sorted(help_texts):
        lines += [f"# HELP {name} {help_texts[name]}", f"# TYPE {name} counter"]
        for (metric, labels), value in sorted(counters.items()):
            if metric == name:
                lines.append(f"{name}{_labels(**dict(labels))} {_format_value(value)}")
    return lines


def _gauge_lines(name: str, help_text: str, value: float | None) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    if value is not None:
        lines.append(f"{name} {_format_value(value)}")
    return lines


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape(str(value))}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


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

        self.metrics.track_in_flight(1)
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            # An exception escaping here is answered 500 by the outer error middleware: count it as such.
            self.metrics.track_in_flight(-1)
            self.metrics.observe_request(
                _route_template(scope), scope.get("method", ""), status["code"], time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE
