"""Per-component wall times of a pipeline run, recorded through Haystack's tracing hooks.

Haystack opens a ``haystack.component.run`` span around every component run. A tracer that wraps
whichever tracer is enabled (so OpenTelemetry or Datadog tracing keeps working) adds each span's
duration to the timings of the current run. The timings live in a context variable, so concurrent
``ask`` calls (threads of the REST server) each see only their own components.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Any

from haystack import tracing
from haystack.tracing import Span, Tracer

_COMPONENT_SPAN = "haystack.component.run"
_COMPONENT_NAME = "haystack.component.name"
_current: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "chronorag_timings", default=None
)


class _TimingTracer(Tracer):
    """Times component spans, then delegates to the tracer that was enabled before it."""

    def __init__(self, delegate: Tracer) -> None:
        self.delegate = delegate

    @contextlib.contextmanager
    def trace(
        self, operation_name: str, tags: dict[str, Any] | None = None, parent_span: Span | None = None
    ) -> Iterator[Span]:
        timings = _current.get()
        started = time.perf_counter()
        with self.delegate.trace(operation_name, tags=tags, parent_span=parent_span) as span:
            try:
                yield span
            finally:
                if timings is not None and operation_name == _COMPONENT_SPAN:
                    name = str((tags or {}).get(_COMPONENT_NAME))
                    timings[name] = timings.get(name, 0.0) + (time.perf_counter() - started) * 1000.0

    def current_span(self) -> Span | None:
        return self.delegate.current_span()


def _install() -> None:
    actual = tracing.tracer.actual_tracer
    if not isinstance(actual, _TimingTracer):
        tracing.enable_tracing(_TimingTracer(actual))


@contextlib.contextmanager
def component_timings() -> Iterator[dict[str, float]]:
    """
    Collect the milliseconds each component runs inside the `with` block.

    :returns: a dict filled during the block: component name -> milliseconds (summed over visits).
    """
    _install()
    timings: dict[str, float] = {}
    token = _current.set(timings)
    try:
        yield timings
    finally:
        _current.reset(token)
