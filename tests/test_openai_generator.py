"""OpenAICompatibleGenerator against a real HTTP server on 127.0.0.1 that speaks the OpenAI chat API."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from haystack.utils import Secret

from chronorag.pipeline.errors import GeneratorError
from chronorag.pipeline.openai_generator import OpenAICompatibleGenerator


class _Handler(BaseHTTPRequestHandler):
    """Behaviour is chosen by the requested model name: ok, slow, error500, badjson, flaky."""

    requests: list[dict] = []
    attempts: dict[str, int] = {}

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/v1/models":
            self._send(200, json.dumps({"object": "list", "data": [{"id": "served-model"}]}).encode())
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["_auth"] = self.headers.get("Authorization")
        _Handler.requests.append(body)
        model = body["model"]
        _Handler.attempts[model] = _Handler.attempts.get(model, 0) + 1
        if model == "slow":
            time.sleep(1.0)
        if model == "error500" or (model == "flaky" and _Handler.attempts[model] == 1):
            self._send(500, b'{"error": {"message": "model crashed"}}')
            return
        if model == "badjson":
            self._send(200, b"<html>not json</html>", "text/html")
            return
        prompt = body["messages"][-1]["content"]
        text = f"echo: {prompt}"
        if body.get("stream"):
            self._stream(text)
            return
        reply = {
            "id": "cmpl-1",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }
        self._send(200, json.dumps(reply).encode())

    def _stream(self, text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for word in text.split(" "):
            chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture(scope="module")
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)  # port 0: a free port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_to_dict_keeps_the_key_variable_name_not_the_key(monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", "sk-secret-value")
    generator = OpenAICompatibleGenerator(
        api_base_url="http://127.0.0.1:9/v1", model="m", api_key=Secret.from_env_var("MY_LLM_KEY")
    )
    data = generator.to_dict()
    assert data["type"] == "chronorag.pipeline.openai_generator.OpenAICompatibleGenerator"
    assert data["init_parameters"]["api_key"] == {
        "type": "env_var",
        "env_vars": ["MY_LLM_KEY"],
        "strict": True,
    }
    assert "sk-secret-value" not in json.dumps(data)


def test_from_dict_round_trips():
    generator = OpenAICompatibleGenerator(model="m", timeout=3.0, max_tokens=7, prefill=True)
    restored = OpenAICompatibleGenerator.from_dict(generator.to_dict())
    assert restored.to_dict() == generator.to_dict()
    assert restored.timeout == 3.0 and restored.max_tokens == 7 and restored.prefill


def test_run_returns_the_reply_and_sends_the_key(server_url, monkeypatch):
    monkeypatch.setenv("CHRONORAG_LLM_API_KEY", "sk-test")
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="ok")
    result = generator.run("Who coached Chelsea in 2010?")
    assert result["replies"] == ["echo: Who coached Chelsea in 2010?"]
    assert result["meta"][0]["completion_tokens"] == 3 and result["meta"][0]["finish_reason"] == "stop"
    assert _Handler.requests[-1]["_auth"] == "Bearer sk-test"
    assert _Handler.requests[-1]["messages"][0]["role"] == "system"


def test_run_reads_server_and_model_from_the_environment(server_url, monkeypatch):
    monkeypatch.setenv("CHRONORAG_LLM_API_BASE", server_url)
    monkeypatch.delenv("CHRONORAG_LLM_MODEL", raising=False)
    generator = OpenAICompatibleGenerator()
    assert generator.run("hi")["replies"] == ["echo: hi"]
    assert _Handler.requests[-1]["model"] == "served-model"  # the server's first listed model


def test_run_with_prefill_sends_an_assistant_turn(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="ok", prefill=True)
    result = generator.run("question", reply_prefix="Carlo Ancelotti")
    assert _Handler.requests[-1]["messages"][-1] == {"role": "assistant", "content": "Carlo Ancelotti"}
    assert result["replies"][0].startswith("Carlo Ancelotti")


def test_run_sends_worked_examples_as_earlier_turns(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="ok", system_prompt="Be brief.")
    examples = [{"prompt": "Who was mayor in 2019?", "reply": "Tom Hale"}]
    reply = generator.run("question", examples=examples)["replies"][0]
    messages = _Handler.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1:3] == [
        {"role": "user", "content": "Who was mayor in 2019?"},
        {"role": "assistant", "content": "Tom Hale"},
    ]
    assert reply == "echo: question"
    assert "".join(generator.stream("question", examples=examples)).strip() == "echo: question"
    assert _Handler.requests[-1]["messages"][1:3] == messages[1:3]


def test_stream_yields_the_reply_in_pieces(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="ok")
    pieces = list(generator.stream("one two three"))
    assert len(pieces) > 1
    assert "".join(pieces).strip() == "echo: one two three"


def test_timeout_gives_a_clear_error(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="slow", timeout=0.3, max_retries=0)
    with pytest.raises(GeneratorError, match=r"did not answer within 0.3 s") as info:
        generator.run("hi")
    assert info.value.reason == "timeout" and info.value.status is None


def test_server_error_gives_status_and_body(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="error500", max_retries=0)
    with pytest.raises(GeneratorError, match=r"HTTP 500.*model crashed") as info:
        generator.run("hi")
    assert info.value.reason == "http_status" and info.value.status == 500


def test_server_error_in_stream_gives_status(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="error500", max_retries=0)
    with pytest.raises(GeneratorError) as info:
        list(generator.stream("hi"))
    assert info.value.status == 500


def test_a_transient_500_is_retried(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="flaky", max_retries=1)
    assert generator.run("again")["replies"] == ["echo: again"]


def test_bad_json_gives_a_clear_error(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="badjson", max_retries=0)
    with pytest.raises(GeneratorError, match="not an OpenAI chat completion") as info:
        generator.run("hi")
    assert info.value.reason == "bad_json"


def test_unreachable_server_gives_a_connection_error():
    generator = OpenAICompatibleGenerator(
        api_base_url="http://127.0.0.1:9/v1", model="m", timeout=2, max_retries=0
    )
    with pytest.raises(GeneratorError, match="could not reach") as info:
        generator.run("hi")
    assert info.value.reason == "connection"


def test_missing_server_configuration_is_explained(monkeypatch):
    monkeypatch.delenv("CHRONORAG_LLM_API_BASE", raising=False)
    with pytest.raises(GeneratorError, match="CHRONORAG_LLM_API_BASE") as info:
        OpenAICompatibleGenerator(model="m").run("hi")
    assert info.value.reason == "config"
