"""The REST server as an attacker or an operator probes it (issue 16), over real HTTP on 127.0.0.1.

* internals stay in the server log: a corrupt store's path and error never reach a client;
* ``--protect-reads`` covers ``/metrics``, ``/docs``, ``/openapi.json``; a bare ``/readyz`` stays open;
* slow-loris clients (raw sockets sending a byte every half second) get 408 on a stalled head or body,
  requests past the concurrency cap get 503, and a connection flood gets uvicorn's 503;
* ``/docs`` renders in a real headless browser with every request kept on this host.

These servers need no models: their pipeline fails to load (a missing YAML, a corrupt store), which is
what the internals test wants, and the other routes under test do not need it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import wait_ready

from chronorag.api.app import create_app
from chronorag.api.server import BackgroundServer
from chronorag.api.settings import ApiSettings
from chronorag.indexers.store import SQLITE_FILE

API_KEY = "hardening-key-3c1"
KEY = {"X-API-Key": API_KEY}
QUESTION = "Who ran the harbour in 2019?"


def _serve(tmp_path: Path, **settings: object) -> BackgroundServer:
    """A server whose pipeline cannot load (no such YAML): the service routes and decompose still work."""
    options = {"api_key": API_KEY, **settings}
    app = create_app(str(tmp_path / "no-pipeline.yaml"), str(tmp_path / "store"), ApiSettings(**options))
    return BackgroundServer(app).start()


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()


# --- internals stay in the log ------------------------------------------------------------------------
def test_a_corrupt_store_is_reported_without_its_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "secret-location" / "store"
    store.mkdir(parents=True)
    (store / SQLITE_FILE).write_bytes(b"this is not a database" * 100)
    settings = ApiSettings(api_key=API_KEY, protect_reads=True, pipeline_options={"generator": "extractive"})
    caplog.set_level(logging.ERROR, logger="chronorag.api.service")
    with (
        BackgroundServer(create_app(None, str(store), settings)) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        bare = wait_ready(http)
        assert bare == {"ready": False, "status": "failed"}  # no key: the bare answer, nothing more
        detailed = http.get("/readyz", headers=KEY).json()
        assert detailed["status"] == "failed" and "store is damaged" in detailed["error"]
        answers = [
            http.get("/readyz", headers=KEY),
            http.post("/v1/retrieve", json={"question": QUESTION}, headers=KEY),
            http.post("/v1/ask", json={"question": QUESTION, "stream": True}, headers=KEY),
            http.get("/v1/documents/anything", headers=KEY),
            http.delete("/v1/documents/anything", headers=KEY),
            http.post("/v1/documents", json={"documents": [{"id": "a", "text": "t"}]}, headers=KEY),
        ]
        assert [a.status_code for a in answers[1:]] == [503] * 5
        for answer in answers:
            for secret in (str(tmp_path), "secret-location", SQLITE_FILE, "Traceback", "DatabaseError"):
                assert secret not in answer.text, (answer.request.url, answer.text)
        assert "the server log has the details" in answers[1].json()["message"]
    logged = caplog.text
    assert str(store) in logged and "StoreCorruptError" in logged  # the operator sees it all


# --- protected reads -------------------------------------------------------------------------------
def test_protected_reads_cover_metrics_and_docs(tmp_path: Path) -> None:
    server = _serve(tmp_path, protect_reads=True)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            wait_ready(http)
            for path in ("/metrics", "/docs", "/redoc", "/openapi.json"):
                assert _error(http.get(path), 401)["error"] == "unauthorized", path
                assert http.get(path, headers=KEY).status_code == 200, path
                assert http.get(path, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200
            assert http.get("/healthz").json() == {"status": "ok"}
            assert http.get("/readyz").json() == {"ready": False, "status": "failed"}
            schema = http.get("/openapi.json", headers=KEY).json()
            assert schema["paths"]["/metrics"]["get"]["security"]
            assert "security" not in schema["paths"]["/readyz"]["get"]
    finally:
        server.stop()


# --- slow clients and floods -----------------------------------------------------------------------
class _RawClient:
    """A raw TCP client to 127.0.0.1 that drips bytes after ``first`` (none when ``first`` is empty)."""

    def __init__(self, port: int, first: bytes) -> None:
        self.dripping = bool(first)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setblocking(False)
        self.received = b""
        self.closed_at: float | None = None
        if first:
            self.sock.sendall(first)

    def drip(self) -> None:
        if self.closed_at is None and self.dripping:
            try:
                self.sock.send(b"a")
            except OSError:
                self.closed_at = time.monotonic()

    def read(self) -> None:
        if self.closed_at is not None:
            return
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self.received += chunk
        else:
            self.closed_at = time.monotonic()

    def close(self) -> None:
        self.sock.close()


def _drip_until_closed(clients: list[_RawClient], limit_s: float, drip: bool = True) -> float:
    """Send each client a byte every 0.5 s until the server closed them all (or ``limit_s`` passed)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s and any(c.closed_at is None for c in clients):
        for client in clients:
            if drip:
                client.drip()
        pause_until = time.monotonic() + 0.5
        while time.monotonic() < pause_until:
            for client in clients:
                client.read()
            time.sleep(0.02)
    return time.monotonic() - started


def _status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[BackgroundServer]:
    server = _serve(tmp_path, header_timeout_s=1.5, body_timeout_s=1.5, max_concurrent_requests=2)
    yield server
    server.stop()


def test_slow_headers_get_408_and_the_connection_closes(slow_server: BackgroundServer) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    clients = [_RawClient(slow_server.port, head) for _ in range(6)]
    silent = _RawClient(slow_server.port, b"")
    try:
        with httpx.Client(base_url=slow_server.url, timeout=10) as http:
            assert http.get("/healthz").status_code == 200  # others are served meanwhile
        took = _drip_until_closed([*clients, silent], limit_s=8)
        assert took < 5, "slow clients were still connected after 5 s"
        for client in clients:
            status, body = _status_and_body(client.received)
            assert status == 408 and body["error"] == "request_timeout"
            assert "headers did not arrive within 1.5 s" in body["message"]
        assert silent.received == b"" and silent.closed_at is not None  # closed without an answer
    finally:
        for client in [*clients, silent]:
            client.close()


def test_slow_body_gets_408(slow_server: BackgroundServer) -> None:
    head = (
        b"POST /v1/decompose HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n{"
    )
    client = _RawClient(slow_server.port, head)
    try:
        took = _drip_until_closed([client], limit_s=8)
        assert took < 5
        status, body = _status_and_body(client.received)
        assert status == 408 and "body did not arrive within 1.5 s" in body["message"]
    finally:
        client.close()


def test_requests_past_the_concurrency_cap_get_503_then_are_served(slow_server: BackgroundServer) -> None:
    head = (
        b"POST /v1/decompose HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n{"
    )
    holders = [_RawClient(slow_server.port, head) for _ in range(2)]  # two requests in flight, stalled
    try:
        time.sleep(0.3)
        with httpx.Client(base_url=slow_server.url, timeout=10) as http:
            refused = http.post("/v1/decompose", json={"question": QUESTION})
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert refused.json()["error"] == "overloaded"
            assert http.get("/healthz").status_code == 200 and http.get("/metrics").status_code == 200
            _drip_until_closed(holders, limit_s=8, drip=False)  # the stalled bodies time out (408)...
            assert all(_status_and_body(h.received)[0] == 408 for h in holders)
            served = http.post("/v1/decompose", json={"question": QUESTION})  # ...and free their slots
            assert served.status_code == 200, served.text
    finally:
        for holder in holders:
            holder.close()


def test_a_connection_flood_gets_503(tmp_path: Path) -> None:
    server = _serve(tmp_path, max_connections=4, header_timeout_s=20)
    idle = [_RawClient(server.port, b"") for _ in range(4)]
    try:
        time.sleep(0.3)
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/healthz").status_code == 503  # uvicorn's limit_concurrency backstop
        for client in idle:
            client.close()
        time.sleep(0.3)
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/healthz").status_code == 200
    finally:
        for client in idle:
            client.close()
        server.stop()


# --- offline docs ----------------------------------------------------------------------------------
def test_docs_pages_load_only_local_assets(tmp_path: Path) -> None:
    server = _serve(tmp_path)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for page in ("/docs", "/redoc"):
                html = http.get(page).text
                urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", html)
                assert len(urls) >= 3, html
                assert "http://" not in html and "https://" not in html and "//cdn" not in html
                for url in urls:
                    assert url.startswith("/"), url
                    asset = http.get(url)
                    assert asset.status_code == 200 and len(asset.content) > 500, url
            assert "validatorUrl" in http.get("/docs").text  # no call to the online validator
    finally:
        server.stop()


def _browser() -> str | None:
    for name in (
        os.environ.get("CHRONORAG_CHROMIUM"),
        "chromium-headless-shell",
        "chromium",
        "google-chrome",
    ):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class _RecordingProxy(BaseHTTPRequestHandler):
    """Stands in for the internet: records every request the browser sends off this host, answers 502."""

    seen: list[str] = []

    def _refuse(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_error(502)

    do_GET = do_POST = do_CONNECT = do_HEAD = _refuse  # noqa: N815 - http.server's handler names

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
        return


@pytest.mark.skipif(
    _browser() is None,
    reason="no headless browser: `apt-get install chromium-headless-shell` (or set CHRONORAG_CHROMIUM)",
)
def test_docs_render_in_a_headless_browser_without_internet(tmp_path: Path) -> None:
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    server = _serve(tmp_path)
    try:
        command = [
            _browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp_path / 'browser'}",
            # Loopback goes direct; anything else would go to the recording proxy.
            f"--proxy-server=127.0.0.1:{proxy.server_address[1]}",
            "--virtual-time-budget=15000", "--dump-dom", f"{server.url}/docs",
        ]  # fmt: skip
        dom = subprocess.run(command, capture_output=True, text=True, timeout=90, check=True).stdout
    finally:
        server.stop()
        proxy.shutdown()
    assert re.search(r'class="title">chronorag', dom), dom[:2000]
    rendered = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert {"/v1/ask", "/v1/retrieve", "/v1/decompose", "/v1/documents", "/healthz"} <= rendered
    assert _RecordingProxy.seen == [], f"the page reached off the host: {_RecordingProxy.seen}"
