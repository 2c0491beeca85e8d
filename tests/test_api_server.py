"""The REST API over real HTTP: a uvicorn server on loopback, a real store of TimeQA pages, httpx calls.

Answers use the extractive generator (fast); the LLM paths use an OpenAI-compatible server written
here (stdlib ``http.server``) that either streams a fixed reply or fails with 500.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from conftest import build_timeqa_store, wait_ready
from fastapi import FastAPI

from chronorag.api.app import create_app
from chronorag.api.metrics import KNOWN_METHODS
from chronorag.api.server import BackgroundServer
from chronorag.api.settings import ApiSettings

API_KEY = "test-key-5f2c"
KEY = {"X-API-Key": API_KEY}
QUESTION = "Which university did Sabine Hossenfelder work for from 2006 to 2009?"
PAGES = 2  # TimeQA pages in the store: ~140 passages, embedded in a few seconds


# --- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def timeqa_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, embedder) -> Path:
    """A store of the first TimeQA pages, built by the indexers' ingestion (as `chronorag index` does)."""
    path = tmp_path_factory.mktemp("api") / "store"
    report = build_timeqa_store(path, shared_data, PAGES)
    assert report.documents_written == PAGES
    return path


def _copy(store: Path, tmp_path: Path) -> str:
    target = tmp_path / "store"
    shutil.copytree(store, target)
    return str(target)


_wait_ready = wait_ready


@pytest.fixture(scope="module")
def server(timeqa_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    """The API over a copy of the store, extractive answers, writes keyed."""
    store = _copy(timeqa_store, tmp_path_factory.mktemp("served"))
    settings = ApiSettings(api_key=API_KEY, pipeline_options={"generator": "extractive"})
    with BackgroundServer(create_app(None, store, settings)) as background:
        yield background


@pytest.fixture(scope="module")
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert _wait_ready(http)["status"] == "ready"
        yield http


class _FakeLLM(BaseHTTPRequestHandler):
    """OpenAI-compatible chat completions whose behaviour the test sets: ok, fail (500) or drop (no reply)."""

    mode = "ok"
    base_url = ""
    pieces = ["Perimeter", " Institute", ",", " Canada"]
    delay_s = 0.0

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.mode == "drop":
            self.close_connection = True  # hang up without a status line: a transport error for the client
            return
        if self.mode == "fail":
            self._send(500, "application/json", b'{"error": {"message": "model crashed"}}')
            return
        if not body.get("stream"):
            reply = {"choices": [{"message": {"content": "".join(self.pieces)}, "finish_reason": "stop"}]}
            self._send(200, "application/json", json.dumps(reply).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for number, piece in enumerate(self.pieces):
            time.sleep(self.delay_s)
            chunk = {"choices": [{"delta": {"content": piece}}]}
            event = "{not json" if self.mode == "garble" and number == 1 else json.dumps(chunk)
            self.wfile.write(f"data: {event}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
        return


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[type[_FakeLLM]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _FakeLLM)
    _FakeLLM.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield _FakeLLM
    httpd.shutdown()
    _FakeLLM.mode, _FakeLLM.delay_s = "ok", 0.0


@pytest.fixture(scope="module")
def llm_app(
    timeqa_store: Path, fake_llm: type[_FakeLLM], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastAPI, BackgroundServer]]:
    """The API with an OpenAI-compatible generator pointed at the fake server; the last test stops it."""
    options = {
        "generator": "openai",
        "api_base_url": fake_llm.base_url,
        "api_model": "fake",
        "api_timeout": 10.0,
    }
    store = _copy(timeqa_store, tmp_path_factory.mktemp("llm"))
    app = create_app(None, store, ApiSettings(api_key=API_KEY, pipeline_options=options))
    background = BackgroundServer(app).start()
    with httpx.Client(base_url=background.url, timeout=60) as http:
        assert _wait_ready(http)["status"] == "ready"
    yield app, background
    background.stop()


def _sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def _assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error", "message"} and body["message"]
    assert "Traceback" not in response.text
    return body


# --- service routes ------------------------------------------------------------------------------
def test_health_ready_and_openapi(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["passages_in_store"] > 50
    schema = client.get("/openapi.json").json()
    for path in ("/v1/ask", "/v1/retrieve", "/v1/decompose", "/v1/documents", "/v1/documents/{doc_id}"):
        assert path in schema["paths"]
    ask = schema["paths"]["/v1/ask"]["post"]
    assert "text/event-stream" in ask["responses"]["200"]["content"]
    assert schema["components"]["schemas"]["AskRequest"]["examples"]


# --- questions -----------------------------------------------------------------------------------
def test_decompose(client: httpx.Client) -> None:
    body = {"question": "Who was the coach of Chelsea before 2011?", "as_of": "2020-01-01"}
    constraint = client.post("/v1/decompose", json=body).json()
    assert constraint["relation"] == "before"
    assert constraint["end"] == "2010-12-31"
    assert constraint["reference_time"] == "2020-01-01"
    assert "2011" not in constraint["content"]


def test_retrieve_returns_ranked_passages_without_answer(client: httpx.Client) -> None:
    result = client.post("/v1/retrieve", json={"question": QUESTION, "top_k": 3}).json()
    assert "answer" not in result
    assert 1 <= len(result["citations"]) <= 3
    top = result["citations"][0]
    assert top["title"] == "Sabine Hossenfelder"
    assert {"id", "date", "snippet", "score", "semantic_score", "temporal_score", "matched_span"} <= set(top)
    assert result["constraint"]["relation"] == "between"
    assert result["timings_ms"]["total"] > 0 and "generate" not in result["timings_ms"]


def test_ask_answers_with_citations(client: httpx.Client) -> None:
    result = client.post("/v1/ask", json={"question": QUESTION, "as_of": "2020-01-01", "top_k": 4}).json()
    assert result["answer"]
    assert 1 <= len(result["citations"]) <= 4
    assert result["constraint"]["start"] == "2006-01-01"
    assert result["timings_ms"]["total"] >= result["timings_ms"]["retrieve"]


def test_ask_stream_sends_retrieval_tokens_then_done(client: httpx.Client) -> None:
    with client.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse(response.read().decode())
    names = [name for name, _ in events]
    assert names[0] == "retrieval" and names[-1] == "done" and "token" in names
    done = events[-1][1]
    assert done["answer"] == "".join(data["token"] for name, data in events if name == "token")
    assert done["citations"] == events[0][1]["citations"]
    assert done["timings_ms"]["total"] > 0


def test_filters_restrict_passages(client: httpx.Client) -> None:
    title = client.post("/v1/retrieve", json={"question": QUESTION, "top_k": 10}).json()["citations"][-1][
        "title"
    ]
    flt = {"field": "meta.title", "operator": "==", "value": title}
    result = client.post("/v1/retrieve", json={"question": QUESTION, "top_k": 10, "filters": flt}).json()
    assert result["citations"] and {c["title"] for c in result["citations"]} == {title}
    bad = {"field": "meta.title", "operator": "~=", "value": title}
    _assert_error(client.post("/v1/retrieve", json={"question": QUESTION, "filters": bad}), 422)
    unfit = {"field": "meta.title", "operator": ">", "value": 5}  # well-formed, but titles are strings
    error = _assert_error(client.post("/v1/retrieve", json={"question": QUESTION, "filters": unfit}), 400)
    assert error["error"] == "invalid_filters"


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/ask", {"question": ""}, "question"),
        ("/v1/ask", {"question": "   "}, "question"),
        ("/v1/ask", {"question": "why? " * 500}, "question"),
        ("/v1/ask", {"question": QUESTION, "top_k": 0}, "top_k"),
        ("/v1/retrieve", {"question": QUESTION, "top_k": 101}, "top_k"),
        ("/v1/retrieve", {"question": QUESTION, "topk": 3}, "topk"),
        ("/v1/decompose", {"question": QUESTION, "as_of": "yesterday-ish"}, "as_of"),
        ("/v1/decompose", {}, "question"),
        ("/v1/documents", {"documents": [{"id": "x", "text": "t"}] * 501}, "documents"),
    ],
)
def test_invalid_input_is_422_naming_the_field(
    client: httpx.Client, path: str, body: dict, where: str
) -> None:
    error = _assert_error(client.post(path, json=body, headers=KEY), 422)
    assert where in error["message"]


def test_malformed_requests_get_json_errors(client: httpx.Client) -> None:
    raw = client.post("/v1/ask", content=b'{"question": ', headers={"Content-Type": "application/json"})
    _assert_error(raw, 422)
    _assert_error(client.get("/v1/ask"), 405)
    _assert_error(client.get("/v2/nothing"), 404)
    _assert_error(client.get("/v1/documents/no-such-document"), 404)


def test_body_over_limit_is_413_before_parsing(client: httpx.Client) -> None:
    oversized = b'{"question": "' + b"a" * (9 * 1024 * 1024) + b'"}'
    declared = client.post("/v1/ask", content=oversized, headers={"Content-Type": "application/json"})
    assert "larger than the limit" in _assert_error(declared, 413)["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the middleware must count the bytes itself
        for start in range(0, len(oversized), 1 << 20):
            yield oversized[start : start + (1 << 20)]

    chunked = client.post("/v1/ask", content=chunks(), headers={"Content-Type": "application/json"})
    _assert_error(chunked, 413)


# --- documents -----------------------------------------------------------------------------------
def test_batch_stores_good_documents_and_reports_bad_ones(client: httpx.Client) -> None:
    text = "The Riverside Bridge opened in March 2003. It was closed for repairs from 2015 to 2017."
    documents = [
        {"id": "bridge-1", "title": "Riverside Bridge", "text": text, "date": "2018-04-02", "meta": {"k": 1}},
        {"id": "empty-1", "text": "   "},
        {"id": "bad-date", "text": text, "date": "the day after"},
        {"id": "bridge-1", "text": "a second document with the same id"},
        {"id": "reserved", "text": text, "meta": {"doc_id": "forged"}},
        {"id": "undated-1", "title": "Notes", "text": "The mayor resigned in June 2019 after an inquiry."},
    ]
    response = client.post("/v1/documents", json={"documents": documents}, headers=KEY)
    assert response.status_code == 200, response.text
    result = response.json()
    assert [w["id"] for w in result["written"]] == ["bridge-1", "undated-1"]
    assert result["written"][0] == {
        "id": "bridge-1",
        "status": "created",
        "passages": 1,
        "date": "2018-04-02",
        "date_source": "metadata",
    }
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    assert sorted(reasons) == [1, 2, 3, 4]
    assert "empty text" in reasons[1] and "not a readable date" in reasons[2]
    assert "duplicate id" in reasons[3] and "reserved" in reasons[4]

    stored = client.get("/v1/documents/bridge-1").json()
    assert stored["title"] == "Riverside Bridge" and stored["meta"] == {"k": 1}
    assert stored["passages"][0]["content"] == text
    assert any(span["start"] == "2015-01-01" for span in stored["passages"][0]["time_spans"])
    found = client.post(
        "/v1/retrieve", json={"question": "When did the Riverside Bridge open?", "top_k": 3}
    ).json()
    assert found["citations"][0]["id"] == "bridge-1#0"

    again = client.post("/v1/documents", json={"documents": documents[:1]}, headers=KEY).json()
    assert again["written"][0]["status"] == "unchanged" and again["passages_written"] == 0
    changed = [{**documents[0], "text": text + " It reopened in 2018."}]
    assert client.post("/v1/documents", json={"documents": changed}, headers=KEY).json()["written"][0][
        "status"
    ] == ("replaced")

    deleted = client.delete("/v1/documents/bridge-1", headers=KEY).json()
    assert deleted["deleted_passages"] == 1
    _assert_error(client.get("/v1/documents/bridge-1"), 404)
    _assert_error(client.delete("/v1/documents/bridge-1", headers=KEY), 404)


def test_unaddressable_ids_and_nan_meta_are_rejected_with_the_reason(client: httpx.Client) -> None:
    """Issue 16: what could be written but not read back is rejected per document; ids are never altered."""
    text = "The lighthouse at Varn was lit in 1881 and automated in 1990."
    documents = [
        {"id": "line\nbreak", "text": text},
        {"id": " padded ", "text": text},
        {"id": "nan-meta", "text": text, "meta": {"score": float("nan")}},
        {"id": "inf-meta", "text": text, "meta": {"nested": [1, float("inf")]}},
        {"id": "inner space ok", "text": text, "meta": {"k": 1.5}},
        {"id": "   ", "text": text + " Blank ids mean none."},
    ]
    # json.dumps writes NaN/Infinity as bare tokens, which the server's JSON reader accepts.
    raw = json.dumps({"documents": documents})
    assert "NaN" in raw and "Infinity" in raw
    response = client.post("/v1/documents", content=raw, headers={**KEY, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    result = response.json()
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    assert sorted(reasons) == [0, 1, 2, 3]
    assert "control character U+000A" in reasons[0]
    assert "leading or trailing whitespace" in reasons[1] and "nothing is stripped" in reasons[1]
    assert "meta.score is nan" in reasons[2] and "meta.nested[1] is inf" in reasons[3]
    written = [w["id"] for w in result["written"]]
    assert written[0] == "inner space ok" and written[1].startswith("sha1:")
    stored = client.get(f"/v1/documents/{quote('inner space ok', safe='')}")
    assert stored.status_code == 200 and stored.json()["meta"] == {"k": 1.5}
    assert client.delete(f"/v1/documents/{quote('inner space ok', safe='')}", headers=KEY).status_code == 200
    assert client.delete(f"/v1/documents/{written[1]}", headers=KEY).status_code == 200
    _assert_error(client.get(f"/v1/documents/{quote('nan-meta', safe='')}"), 404)  # nothing half-written


def test_document_ids_with_slash_and_hash(client: httpx.Client) -> None:
    doc_id = "/wiki/Sabine_Hossenfelder#P937"
    stored = client.get(f"/v1/documents/{quote(doc_id, safe='')}").json()
    assert stored["id"] == doc_id and stored["title"] == "Sabine Hossenfelder"
    assert [p["passage_index"] for p in stored["passages"]] == sorted(
        p["passage_index"] for p in stored["passages"]
    )


# --- auth ----------------------------------------------------------------------------------------
def test_writes_need_the_key(client: httpx.Client) -> None:
    batch = {"documents": [{"id": "auth-1", "text": "Written with a key in 2021."}]}
    _assert_error(client.post("/v1/documents", json=batch), 401)
    _assert_error(client.post("/v1/documents", json=batch, headers={"X-API-Key": API_KEY + "x"}), 401)
    _assert_error(client.delete("/v1/documents/auth-1", headers={"Authorization": "Bearer nope"}), 401)
    bearer = client.post("/v1/documents", json=batch, headers={"Authorization": f"Bearer {API_KEY}"})
    assert bearer.status_code == 200 and bearer.json()["written"][0]["id"] == "auth-1"
    assert client.post("/v1/decompose", json={"question": QUESTION}).status_code == 200  # reads are open


def test_no_key_refuses_writes_unless_opened(tmp_path: Path) -> None:
    """Key checks run before the pipeline is needed: a server whose pipeline failed still enforces them."""
    missing = str(tmp_path / "missing.yaml")
    batch = {"documents": [{"id": "x", "text": "text"}]}
    closed = create_app(missing, str(tmp_path / "store"), ApiSettings(api_key=None))
    with BackgroundServer(closed) as background, httpx.Client(base_url=background.url) as http:
        ready = _wait_ready(http)
        # The kind of failure, not the path: that is in the server log only (issue 16).
        assert ready["status"] == "failed" and "is unreadable" in ready["error"]
        assert "missing.yaml" not in json.dumps(ready)
        assert http.get("/healthz").status_code == 200
        assert _assert_error(http.post("/v1/documents", json=batch), 403)["error"] == "writes_disabled"
        _assert_error(http.post("/v1/ask", json={"question": QUESTION}), 503)
        assert http.post("/v1/decompose", json={"question": QUESTION}).status_code == 200
    opened = create_app(missing, str(tmp_path / "store"), ApiSettings(insecure_open_writes=True))
    with BackgroundServer(opened) as background, httpx.Client(base_url=background.url) as http:
        _wait_ready(http)
        _assert_error(http.post("/v1/documents", json=batch), 503)  # past auth, then "pipeline unavailable"


def test_read_only_server_builds_no_ingestion_embedder(timeqa_store: Path, tmp_path: Path) -> None:
    """Without a key (writes refused) the server answers reads and skips the ~200 MB ingestion embedder."""
    app = create_app(None, _copy(timeqa_store, tmp_path), ApiSettings(api_key=None))
    with BackgroundServer(app) as background, httpx.Client(base_url=background.url, timeout=60) as http:
        assert _wait_ready(http)["status"] == "ready"
        assert http.post("/v1/retrieve", json={"question": QUESTION, "top_k": 2}).json()["citations"]
        batch = {"documents": [{"id": "x", "text": "The canal opened in 1825."}]}
        assert _assert_error(http.post("/v1/documents", json=batch), 403)["error"] == "writes_disabled"
        writer = app.state.service.writer
        assert writer.embed is None
        with pytest.raises(RuntimeError, match="writes disabled"):
            writer.write([], app.state.service.settings)


def test_protected_reads(tmp_path: Path) -> None:
    settings = ApiSettings(api_key=API_KEY, protect_reads=True)
    app = create_app(str(tmp_path / "missing.yaml"), str(tmp_path / "store"), settings)
    with BackgroundServer(app) as background, httpx.Client(base_url=background.url) as http:
        _assert_error(http.post("/v1/decompose", json={"question": QUESTION}), 401)
        assert http.post("/v1/decompose", json={"question": QUESTION}, headers=KEY).status_code == 200
        assert http.get("/healthz").status_code == 200


# --- concurrency ---------------------------------------------------------------------------------
def test_concurrent_reads_and_batches_are_all_or_nothing(
    client: httpx.Client, server: BackgroundServer
) -> None:
    """Readers see the passage count only at batch boundaries; afterwards every document is there, whole."""
    base = client.get("/readyz").json()["passages_in_store"]
    long_text = " ".join(
        f"In {1900 + i} the archive recorded event number {i} of the harbour." for i in range(25)
    )
    batches = [
        [
            {"id": f"conc-{b}-{d}", "title": f"Harbour {b}", "text": long_text, "date": "2001-01-01"}
            for d in range(2)
        ]
        for b in range(4)
    ]
    boundaries = {base}
    errors: list[str] = []
    seen_counts: set[int] = set()
    done = threading.Event()

    def write() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            total = base
            for batch in batches:
                response = http.post("/v1/documents", json={"documents": batch}, headers=KEY)
                if response.status_code != 200:
                    errors.append(response.text)
                    continue
                total += response.json()["passages_written"]
                if response.json()["passages_in_store"] != total:
                    errors.append(
                        f"after a batch the store holds {response.json()['passages_in_store']}, not {total}"
                    )
                boundaries.add(total)
        done.set()

    def read(path: str) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            while not done.is_set():
                response = http.post(path, json={"question": "What did the harbour archive record in 1921?"})
                if response.status_code != 200:
                    errors.append(f"{path}: {response.status_code} {response.text}")
                seen_counts.add(http.get("/readyz").json()["passages_in_store"])

    threads = [threading.Thread(target=write)]
    threads += [
        threading.Thread(target=read, args=(path,)) for path in ("/v1/ask", "/v1/retrieve", "/v1/retrieve")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors
    assert seen_counts <= boundaries, (
        f"a reader saw a count between batch boundaries: {seen_counts - boundaries}"
    )
    passages_per_document = None
    for batch in batches:
        for document in batch:
            stored = client.get(f"/v1/documents/{document['id']}").json()
            passages_per_document = passages_per_document or len(stored["passages"])
            assert len(stored["passages"]) == passages_per_document > 1
    assert client.get("/readyz").json()["passages_in_store"] == max(boundaries)


# --- metrics -------------------------------------------------------------------------------------
def _series(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels (label order is the client's)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_exposition(client: httpx.Client) -> None:
    client.post("/v1/decompose", json={"question": QUESTION})
    client.post("/v1/decompose", json={})
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    series = _series(response.text)

    def value(name: str, **labels: str) -> float | None:
        return series.get((name, tuple(sorted(labels.items()))))

    assert value("chronorag_http_requests_total", route="/v1/decompose", method="POST", status="200") >= 1
    assert value("chronorag_http_requests_total", route="/v1/decompose", method="POST", status="422") >= 1
    latency = "chronorag_http_request_duration_seconds_bucket"
    assert value(latency, route="/v1/decompose", method="POST", le="+Inf") >= 2
    assert "# TYPE chronorag_http_request_duration_seconds histogram" in response.text
    assert value("chronorag_ingested_documents_total", outcome="written") is not None
    assert value("chronorag_http_requests_in_flight") == 1  # this scrape
    passages = client.get("/readyz").json()["passages_in_store"]
    assert value("chronorag_store_passages") == passages
    assert value("chronorag_ready") == 1
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


def test_metrics_labels_stay_bounded(client: httpx.Client) -> None:
    """Invented methods and paths are folded into `other` and route templates: /metrics stops growing."""

    def flood(batch: int) -> None:
        for i in range(150):
            client.request(f"X{batch}Q{i}", f"/v1/documents/doc-{batch}-{i}")
            client.request(f"Y{batch}Q{i}", f"/no/such/path/{batch}/{i}")
            client.get(f"/v1/documents/doc-{batch}-{i}")

    client.get("/metrics")  # so the scrape's own series exist before the first count
    flood(1)
    first = _series(client.get("/metrics").text)
    flood(2)
    text = client.get("/metrics").text
    second = _series(text)
    assert first.keys() == second.keys(), set(second) - set(first)
    labels = [dict(pairs) for _, pairs in second]
    methods = {pairs.get("method") for pairs in labels} - {None}
    routes = {pairs.get("route") for pairs in labels} - {None}
    assert "other" in methods and methods <= KNOWN_METHODS | {"other"}
    assert {"/v1/documents/{doc_id:path}", "<unmatched>"} <= routes
    assert "doc-2-" not in text and "X2Q" not in text and "/no/such" not in text
    assert len(text) < 64_000


# --- LLM backends --------------------------------------------------------------------------------
def test_failing_llm_gives_502_and_retrieve_still_works(llm_app, fake_llm: type[_FakeLLM]) -> None:
    fake_llm.mode = "fail"
    with httpx.Client(base_url=llm_app[1].url, timeout=60) as http:
        error = _assert_error(http.post("/v1/ask", json={"question": QUESTION}), 502)
        assert error["error"] == "llm_unavailable" and "/v1/retrieve" in error["message"]
        assert "127.0.0.1" not in error["message"] and "model crashed" not in error["message"]
        _assert_error(http.post("/v1/ask", json={"question": QUESTION, "stream": True}), 502)
        retrieved = http.post("/v1/retrieve", json={"question": QUESTION})
        assert retrieved.status_code == 200 and retrieved.json()["citations"]


def test_unreachable_llm_gives_503(llm_app, fake_llm: type[_FakeLLM]) -> None:
    fake_llm.mode = "drop"
    with httpx.Client(base_url=llm_app[1].url, timeout=60) as http:
        assert (
            _assert_error(http.post("/v1/ask", json={"question": QUESTION}), 503)["error"]
            == "llm_unavailable"
        )


def test_llm_failing_mid_stream_ends_with_an_error_event(llm_app, fake_llm: type[_FakeLLM]) -> None:
    fake_llm.mode = "garble"  # the first token is fine, the second event is not JSON
    body = {"question": QUESTION, "stream": True}
    with (
        httpx.Client(base_url=llm_app[1].url, timeout=60) as http,
        http.stream("POST", "/v1/ask", json=body) as response,
    ):
        assert response.status_code == 200  # the first token was generated: the stream had started
        events = _sse(response.read().decode())
    assert [name for name, _ in events] == ["retrieval", "token", "error"]
    assert events[1][1]["token"] == fake_llm.pieces[0]
    assert events[-1][1]["status"] == 502 and events[-1][1]["error"] == "llm_unavailable"


def test_llm_stream_and_graceful_shutdown(llm_app, fake_llm: type[_FakeLLM]) -> None:
    """Tokens arrive as SSE events; a shutdown mid-stream lets the stream finish, then closes the store."""
    app, background = llm_app
    fake_llm.mode = "ok"
    with httpx.Client(base_url=background.url, timeout=60) as http:
        # The answer builder keeps the LLM's reply only when it states the timeline's choice, so the
        # answer is whatever the pipeline decides; the stream must end with that same answer.
        answer = http.post("/v1/ask", json={"question": QUESTION}).json()["answer"]
        assert answer
        fake_llm.delay_s = 0.3
        received: list[str] = []

        def consume() -> None:
            with http.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
                received.append(response.read().decode())

        reader = threading.Thread(target=consume)
        reader.start()
        time.sleep(0.6)  # the stream is under way
        background.stop()
        reader.join(30)
    events = _sse(received[0])
    assert [data["token"] for name, data in events if name == "token"] == fake_llm.pieces
    assert events[-1][0] == "done" and events[-1][1]["answer"] == answer
    service = app.state.service
    assert service.state == "stopping" and service.passages_in_store() is None
    assert service.store._conn is None  # closed by the lifespan handler after the stream finished


# --- command line --------------------------------------------------------------------------------
def test_serve_command_checks_its_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`chronorag serve` refuses bad options before starting anything (the benchmark runs it for real)."""
    from typer.testing import CliRunner

    from chronorag import cli

    if not cli.app.registered_commands:
        cli._register_all()
    runner = CliRunner()
    usage = runner.invoke(cli.app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert usage.exit_code == 0
    options = (
        "--store",
        "--pipeline",
        "--host",
        "--port",
        "--insecure-open-writes",
        "--protect-reads",
        "--workers",
        "--ingest-backend",
        "--header-timeout",
        "--body-timeout",
        "--max-concurrent-requests",
        "--max-connections",
    )
    for option in options:
        assert option in usage.output
    missing = runner.invoke(
        cli.app, ["serve", "--store", str(tmp_path), "--pipeline", str(tmp_path / "no.yaml")]
    )
    assert missing.exit_code == 2 and "is not a file" in " ".join(missing.output.split())
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("components: {}\n")
    both = runner.invoke(
        cli.app, ["serve", "--store", str(tmp_path), "--pipeline", str(pipeline), "--generator", "extractive"]
    )
    assert both.exit_code == 2 and "--generator" in " ".join(both.output.split())
    monkeypatch.delenv("CHRONORAG_API_KEY", raising=False)
    keyless = runner.invoke(cli.app, ["serve", "--store", str(tmp_path), "--protect-reads"])
    assert keyless.exit_code == 2 and "protect_reads needs an API key" in " ".join(keyless.output.split())


def test_ingest_backend_is_a_setting_and_embeds_in_the_stores_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/v1/documents embeds as `chronorag index` does: the fastest installed backend unless told otherwise."""
    import numpy as np
    from pydantic import ValidationError

    from chronorag.api.pipeline_bridge import embedder_for
    from chronorag.indexers import ChronoDocumentStore, StoreMismatchError
    from chronorag.indexers.ingest import sentence_transformer_embedder

    assert ApiSettings().ingest_backend == "auto"
    with pytest.raises(ValidationError, match="ingest_backend"):
        ApiSettings(ingest_backend="tensorflow")
    monkeypatch.setenv("CHRONORAG_INGEST_BACKEND", "torch")
    assert ApiSettings.from_env().ingest_backend == "torch"
    assert ApiSettings.from_env(ingest_backend="onnx").ingest_backend == "onnx"

    texts = ["The Riverside Bridge opened in March 2003.", "Tomatoes need sun."]
    reference = sentence_transformer_embedder()[0](texts)
    store = ChronoDocumentStore(str(tmp_path / "s"))
    assert np.allclose(embedder_for(store, "torch")(texts), reference, atol=1e-5)
    fast = embedder_for(store, "auto")(texts)
    assert fast.shape == reference.shape and (fast * reference).sum(axis=1).min() > 0.98
    store.close()
    other = ChronoDocumentStore(str(tmp_path / "o"), embedding_model="another-model", embedding_dim=8)
    with pytest.raises(StoreMismatchError, match="CHRONORAG_EMBEDDING_MODEL"):
        embedder_for(other, "torch")
    other.close()

    from typer.testing import CliRunner

    from chronorag import cli

    if not cli.app.registered_commands:
        cli._register_all()
    bad = CliRunner().invoke(cli.app, ["serve", "--store", str(tmp_path), "--ingest-backend", "tensorflow"])
    assert bad.exit_code == 2 and "ingest_backend" in " ".join(bad.output.split())
