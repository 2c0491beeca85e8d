"""Running the app under uvicorn: in the foreground (``chronorag serve``) or in a background thread.

The background form serves tests and the benchmark a real HTTP server on loopback, so they exercise
the same sockets, middleware and shutdown path as production.

Several worker processes (``CHRONORAG_API_WORKERS=2``): the pipeline is Python-heavy and holds the GIL
for most of a request, so one process uses about one core however many threads serve it; a worker per
core serves proportionally more. Each worker loads the pipeline (its own models and in-memory index,
~0.7 GB) one after the other; they share the store, whose writes are serialised across processes by its
folder lock, and each follows the others' commits (generation check per search). The parent makes a
run folder for the workers (removed when it exits): ``ready/`` holds a marker per worker that serves, so
``/readyz`` says ready only when every worker does, and ``metrics/`` is prometheus_client's multiprocess
folder, so ``/metrics`` from any worker describes the whole server.

Connections: every request head must arrive within ``header_timeout_s`` (``GuardedH11Protocol``), idle
keep-alive connections close after ``keep_alive_s``, and past ``max_connections`` open connections a
worker answers new requests with uvicorn's plain 503 (its ``limit_concurrency``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from chronorag.api.settings import ApiSettings

# In-flight requests get this long to finish after SIGTERM/SIGINT before connections are closed.
GRACEFUL_SHUTDOWN_S = 30
WORKERS_ENV = "CHRONORAG_API_WORKERS"
# How the parent hands create_app's arguments to worker processes (they start from a fresh interpreter).
_APP_SPEC_ENV = "CHRONORAG_API_APP_SPEC"
_FACTORY = "chronorag.api.server:app_from_environment"
_PROTOCOL = "chronorag.api.protocol:GuardedH11Protocol"
# prometheus_client reads it at import: set in the parent before the workers start.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus the request-head deadline ``GuardedH11Protocol`` reads.

    :param app: as for ``uvicorn.Config``.
    :param header_timeout_s: seconds a request line and headers may take to arrive.
    :param kwargs: ``uvicorn.Config``'s other arguments.
    """

    def __init__(self, app: FastAPI | str, header_timeout_s: float, **kwargs: object) -> None:
        super().__init__(app, **kwargs)  # type: ignore[arg-type]
        self.header_timeout_s = header_timeout_s


def uvicorn_config(
    app: FastAPI | str,
    host: str,
    port: int,
    log_level: str = "info",
    workers: int = 1,
    settings: ApiSettings | None = None,
) -> ServerConfig:
    """The uvicorn configuration shared by the CLI, tests and the benchmark.

    :param app: the app from ``create_app``, or (several workers) the import string of an app factory.
    :param host: interface to bind.
    :param port: TCP port (0 is not allowed here: pick one with :func:`free_port`).
    :param log_level: uvicorn's log level.
    :param workers: worker processes (more than one needs ``app`` as a factory's import string).
    :param settings: timeouts and connection limits; default the app's own (``app.state.settings``).
    :returns: the config.
    """
    if settings is None:
        settings = app.state.settings if isinstance(app, FastAPI) else ApiSettings()
    return ServerConfig(
        app,
        header_timeout_s=settings.header_timeout_s,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        workers=workers,
        factory=isinstance(app, str),
        access_log=log_level == "debug",
        http=_PROTOCOL,
        timeout_keep_alive=settings.keep_alive_s,
        limit_concurrency=settings.max_connections,
    )


def worker_count(workers: int | None = None) -> int:
    """
    :param workers: the count asked for, or ``None`` to read ``CHRONORAG_API_WORKERS`` (default 1).
    :returns: worker processes to run (at least 1).
    :raises ValueError: when the environment variable is not an integer.
    """
    if workers is None:
        value = os.environ.get(WORKERS_ENV, "").strip()
        try:
            workers = int(value) if value else 1
        except ValueError as exc:
            raise ValueError(f"{WORKERS_ENV} must be an integer, not {value!r}") from exc
    return max(1, workers)


def serve(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    workers: int | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM, then shut down gracefully.

    :param app: the app (from ``create_app``; with several workers each worker builds its own from the
        same arguments).
    :param host: interface to bind.
    :param port: TCP port.
    :param log_level: uvicorn's log level.
    :param workers: worker processes; ``None`` reads ``CHRONORAG_API_WORKERS`` (default 1).
    """
    count = worker_count(workers)
    if count == 1:
        uvicorn.Server(uvicorn_config(app, host, port, log_level)).run()
        return
    from uvicorn.supervisors import Multiprocess

    spec = app.state.create_args
    run_dir = Path(tempfile.mkdtemp(prefix="chronorag-serve-"))
    try:
        for folder in ("ready", "metrics"):
            (run_dir / folder).mkdir()
        os.environ[MULTIPROC_ENV] = str(run_dir / "metrics")
        os.environ[_APP_SPEC_ENV] = json.dumps(
            {
                "pipeline_path": spec["pipeline_path"],
                "store_path": spec["store_path"],
                "settings": spec["settings"].model_dump(mode="json"),
                "ready_dir": str(run_dir / "ready"),
                "workers": count,
            }
        )
        config = uvicorn_config(_FACTORY, host, port, log_level, workers=count, settings=spec["settings"])
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def app_from_environment() -> FastAPI:
    """The app factory each worker process calls (``serve`` with several workers).

    :returns: the app built from the arguments the parent's ``create_app`` was given.
    """
    from chronorag.api.app import create_app
    from chronorag.api.workers import WorkerGroup
    from chronorag.models import configure_threads

    configure_threads()
    spec = json.loads(os.environ[_APP_SPEC_ENV])
    app = create_app(
        spec["pipeline_path"],
        spec["store_path"],
        ApiSettings(**spec["settings"]),
        group=WorkerGroup(spec["ready_dir"], spec["workers"]),
    )
    app.state.service.serialise_loading = True
    return app


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``.

    :param host: the interface.
    :returns: the port number.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class BackgroundServer:
    """A uvicorn server in a daemon thread, as a context manager.

    :param app: the app.
    :param host: interface to bind.
    :param port: TCP port, or ``None`` for a free one.
    :param log_level: uvicorn's log level.
    """

    def __init__(
        self, app: FastAPI, host: str = "127.0.0.1", port: int | None = None, log_level: str = "warning"
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.server = uvicorn.Server(uvicorn_config(app, self.host, self.port, log_level))
        # Signal handlers can only be installed on the main thread; the owner stops us via stop().
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> BackgroundServer:
        """Start the thread and wait until the socket accepts connections.

        :param timeout_s: how long to wait.
        :returns: self.
        :raises RuntimeError: when the server does not start in time.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask for a graceful shutdown (in-flight requests finish, lifespan shutdown runs) and wait.

        :param timeout_s: how long to wait for the thread.
        """
        self.server.should_exit = True
        self._thread.join(timeout_s)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
