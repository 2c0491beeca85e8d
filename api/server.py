"""Running the app under uvicorn: in the foreground (``chronorag serve``) or in a background thread.

The background form serves tests and the benchmark a real HTTP server on loopback, so they exercise
the same sockets, middleware and shutdown path as production.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

# In-flight requests get this long to finish after SIGTERM/SIGINT before connections are closed.
GRACEFUL_SHUTDOWN_S = 30


def uvicorn_config(app: FastAPI, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn configuration shared by the CLI, tests and the benchmark.

    :param app: the app from ``create_app``.
    :param host: interface to bind.
    :param port: TCP port (0 is not allowed here: pick one with :func:`free_port`).
    :param log_level: uvicorn's log level.
    :returns: the config.
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # The pipeline is loaded once per process: several workers would load it several times.
        workers=1,
        access_log=log_level == "debug",
    )


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve in the foreground until SIGINT/SIGTERM, then shut down gracefully.

    :param app: the app.
    :param host: interface to bind.
    :param port: TCP port.
    :param log_level: uvicorn's log level.
    """
    uvicorn.Server(uvicorn_config(app, host, port, log_level)).run()


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
