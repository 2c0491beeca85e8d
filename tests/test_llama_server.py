"""The OpenAI-compatible generator against real servers on 127.0.0.1.

- llama.cpp's own server (``python -m llama_cpp.server`` from ``llama-cpp-python[server]``) serving the
  packaged SmolLM2-135M GGUF with one thread: answers, streaming, the served model's name, and the whole
  chronorag REST API answering through it.
- A server that answers too late and one that answers garbage (stdlib ``http.server``): the generator
  raises clear errors, and the REST API answers 504/502 with a reason, never a 500 or an answer.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import build_timeqa_store

from chronorag.api.app import create_app
from chronorag.api.server import BackgroundServer
from chronorag.api.settings import ApiSettings
from chronorag.models import resolve_llm_gguf
from chronorag.pipeline.errors import GeneratorError
from chronorag.pipeline.openai_generator import OpenAICompatibleGenerator

API_KEY = "test-key-llama"
QUESTION = "Which university did Sabine Hossenfelder work for from 2006 to 2009?"
CAPITAL = (
    "Passage: Paris is the capital and largest city of France.\n\nQuestion: What is the capital of France?"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on a free loopback port, one thread, the tiny SmolLM2."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(resolve_llm_gguf("smollm2-135m")), "--model_alias", "smollm2",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_threads", "1", "--n_threads_batch", "1", "--n_ctx", "1024",
        "--logits_all", "false",  # the server's default keeps every position's logits: 200 MB for nothing
    ]  # fmt: skip
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited with {process.returncode}: {log_path.read_text()[-2000:]}"
                )
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not start in 120 s: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _BadLLM(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint gone wrong; `mode`: slow (answers after 3 s), html (200 with a web
    page), shape (200 with JSON that is no chat completion), events (a stream of non-JSON events)."""

    mode = "slow"

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self._send(200, "application/json", json.dumps({"data": [{"id": "bad"}]}).encode())

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.mode == "slow":
            time.sleep(3.0)
            self._send(200, "application/json", b'{"choices": [{"message": {"content": "too late"}}]}')
        elif self.mode == "html":
            self._send(200, "text/html", b"<html><body>502 Bad Gateway (nginx)</body></html>")
        elif self.mode == "shape":
            self._send(200, "application/json", b'{"result": "Perimeter Institute"}')
        elif body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b"data: <html>oops</html>\n\ndata: [DONE]\n\n")
        else:
            self._send(200, "application/json", b"{not json")

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout case)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
        return


@pytest.fixture(scope="module")
def bad_llm() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _BadLLM)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def timeqa_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, embedder) -> Path:
    path = tmp_path_factory.mktemp("llama-api") / "store"
    build_timeqa_store(path, shared_data, 1)
    return path


def _api(store: Path, tmp_path: Path, options: dict) -> BackgroundServer:
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    settings = ApiSettings(api_key=API_KEY, pipeline_options={"generator": "openai", **options})
    background = BackgroundServer(create_app(None, str(copy), settings)).start()
    with httpx.Client(base_url=background.url, timeout=120) as http:
        deadline = time.monotonic() + 180
        while http.get("/readyz").json()["status"] not in ("ready", "failed"):
            assert time.monotonic() < deadline, "the API did not become ready"
            time.sleep(0.1)
        assert http.get("/readyz").json()["status"] == "ready"
    return background


# --- the generator against llama.cpp's server ---------------------------------------------------
def test_run_answers_through_llama_cpp_server(llama_server: str):
    generator = OpenAICompatibleGenerator(api_base_url=llama_server, max_tokens=12, timeout=60)
    result = generator.run(CAPITAL)
    assert "paris" in result["replies"][0].lower()
    meta = result["meta"][0]
    assert meta["model"] == "smollm2"  # no model given: the server's own listing named it
    assert 0 < meta["completion_tokens"] <= 12 and meta["prompt_tokens"] > 10
    assert meta["finish_reason"] in ("stop", "length")


def test_stream_from_llama_cpp_server_is_the_same_reply(llama_server: str):
    generator = OpenAICompatibleGenerator(api_base_url=llama_server, model="smollm2", max_tokens=12)
    pieces = list(generator.stream(CAPITAL))
    assert len(pieces) >= 2
    assert "".join(pieces).strip() == generator.run(CAPITAL)["replies"][0]


def test_the_rest_api_answers_through_llama_cpp_server(
    llama_server: str, timeqa_store: Path, tmp_path: Path
) -> None:
    background = _api(timeqa_store, tmp_path, {"api_base_url": llama_server, "max_new_tokens": 16})
    try:
        with httpx.Client(base_url=background.url, timeout=120) as http:
            answered = http.post("/v1/ask", json={"question": QUESTION})
            assert answered.status_code == 200, answered.text
            body = answered.json()
            assert body["answer"].strip() and body["citations"]
            assert body["citations"][0]["title"] == "Sabine Hossenfelder"
            with http.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as response:
                assert response.status_code == 200
                text = response.read().decode()
        events = [block.split("\n", 1)[0].removeprefix("event: ") for block in text.strip().split("\n\n")]
        assert events[0] == "retrieval" and events[-1] == "done" and "token" in events
    finally:
        background.stop()


# --- servers that time out or answer garbage ----------------------------------------------------
@pytest.mark.parametrize("mode", ["html", "shape"])
def test_garbage_replies_are_clear_errors(bad_llm: str, mode: str):
    _BadLLM.mode = mode
    generator = OpenAICompatibleGenerator(api_base_url=bad_llm, model="bad", max_retries=0)
    with pytest.raises(GeneratorError, match="not an OpenAI chat completion") as info:
        generator.run("hi")
    assert info.value.reason == "bad_json" and info.value.status == 200


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("events", "streamed an event that is not JSON"),
        ("html", "text/html without a single server-sent event"),
        ("shape", "not an OpenAI chat completion"),
    ],
)
def test_garbage_streams_are_clear_errors(bad_llm: str, mode: str, message: str):
    _BadLLM.mode = mode
    generator = OpenAICompatibleGenerator(api_base_url=bad_llm, model="bad", max_retries=0)
    with pytest.raises(GeneratorError, match=message) as info:
        list(generator.stream("hi"))
    assert info.value.reason == "bad_json"


def test_slow_server_times_out(bad_llm: str):
    _BadLLM.mode = "slow"
    generator = OpenAICompatibleGenerator(api_base_url=bad_llm, model="bad", timeout=0.5, max_retries=0)
    started = time.monotonic()
    with pytest.raises(GeneratorError, match="did not answer within 0.5 s") as info:
        generator.run("hi")
    assert info.value.reason == "timeout" and time.monotonic() - started < 2.5


def test_rest_gives_504_and_502_never_500_or_an_answer(bad_llm: str, timeqa_store: Path, tmp_path: Path):
    options = {"api_base_url": bad_llm, "api_model": "bad", "api_timeout": 0.5}
    background = _api(timeqa_store, tmp_path, options)
    expected = {"slow": 504, "html": 502, "shape": 502, "events": 502}
    try:
        with httpx.Client(base_url=background.url, timeout=60) as http:
            for mode, status in expected.items():
                _BadLLM.mode = mode
                for stream in (False, True):
                    response = http.post("/v1/ask", json={"question": QUESTION, "stream": stream})
                    assert response.status_code == status, (mode, stream, response.text)
                    body = response.json()
                    assert body["error"] == "llm_unavailable" and "answer" not in body
                    assert "Traceback" not in response.text
            retrieved = http.post("/v1/retrieve", json={"question": QUESTION})  # retrieval still serves
            assert retrieved.status_code == 200 and retrieved.json()["citations"]
    finally:
        background.stop()
