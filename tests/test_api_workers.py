"""`chronorag serve` with two worker processes over one store: a write through one worker is seen by both."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import build_timeqa_store

from chronorag.api.server import WORKERS_ENV, free_port
from chronorag.indexers import ChronoDocumentStore

API_KEY = "workers-key-81b"
KEY = {"X-API-Key": API_KEY}

pytestmark = pytest.mark.slow  # two processes each load the pipeline (~20 s)


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, embedder) -> Path:
    path = tmp_path_factory.mktemp("workers") / "store"
    build_timeqa_store(path, shared_data, 1)
    return path


def _fresh(url: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    # A new connection each time: the kernel hands it to either worker.
    with httpx.Client(base_url=url, timeout=60) as http:
        return http.request(method, path, **kwargs)


def _wait_ready(url: str, process: subprocess.Popen, timeout_s: float = 300.0) -> dict:
    """Poll /readyz (fresh connections) until the first 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, "the server exited"
        assert time.monotonic() < deadline, "the server did not become ready"
        try:
            response = _fresh(url, "GET", "/readyz")
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.1)


def _requests_total(url: str, route: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = _fresh(url, "GET", "/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "chronorag_http_requests_total" and sample.labels["route"] == route
    )


def _assert_every_worker_serves_once_ready(url: str, process: subprocess.Popen) -> None:
    """Issue 16: right after the first 200 from /readyz no request may meet a worker still warming up."""
    first = _wait_ready(url, process)
    assert first["workers"] == 2 and first["workers_ready"] == 2
    answered_by: set[int] = set()
    statuses: list[int] = []
    for _ in range(80):
        statuses.append(_fresh(url, "GET", "/v1/documents/no-such-document").status_code)
        ready = _fresh(url, "GET", "/readyz")
        statuses.append(ready.status_code)
        answered_by.add(ready.json()["worker"])
    assert 503 not in statuses, statuses.count(503)
    assert set(statuses) == {200, 404}
    assert len(answered_by) == 2, "the kernel sent every connection to one worker: nothing was tested"
    # Multiprocess metrics: any worker's /metrics counts both workers' requests, and never goes back.
    totals = [_requests_total(url, "/readyz") for _ in range(6)]
    assert totals == sorted(totals) and totals[0] >= 80


def test_two_workers_share_writes_and_shut_down_cleanly(small_store: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, WORKERS_ENV: "2", "CHRONORAG_API_KEY": API_KEY, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "chronorag.cli", "serve", "--store", str(small_store),
               "--port", str(port), "--generator", "extractive", "--log-level", "warning"]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _assert_every_worker_serves_once_ready(url, process)
        text = " ".join(f"In {1950 + i} the keeper of Varnholm light logged storm {i}." for i in range(9))
        written = _fresh(
            url,
            "POST",
            "/v1/documents",
            json={"documents": [{"id": "varnholm", "title": "Varnholm", "text": text, "date": "1999-03-01"}]},
            headers=KEY,
        )
        assert written.status_code == 200, written.text
        passages = written.json()["passages_in_store"]
        for _ in range(12):
            assert _fresh(url, "GET", "/v1/documents/varnholm").status_code == 200
            found = _fresh(url, "POST", "/v1/retrieve", json={"question": "Who logged storms at Varnholm?"})
            assert found.status_code == 200, found.text
            assert any(c["id"].startswith("varnholm#") for c in found.json()["citations"])
            ready = _fresh(url, "GET", "/readyz").json()
            assert ready["passages_in_store"] == passages
        deleted = _fresh(url, "DELETE", "/v1/documents/varnholm", headers=KEY)
        assert deleted.status_code == 200
        for _ in range(12):
            assert _fresh(url, "GET", "/v1/documents/varnholm").status_code == 404
            found = _fresh(url, "POST", "/v1/retrieve", json={"question": "Who logged storms at Varnholm?"})
            assert not any(c["id"].startswith("varnholm#") for c in found.json()["citations"])
    finally:
        process.terminate()
        output = process.communicate(timeout=120)[0].decode(errors="replace")
    assert process.returncode == 0, output[-3000:]
    store = ChronoDocumentStore(str(small_store))
    try:
        assert store.check() == []
    finally:
        store.close()
