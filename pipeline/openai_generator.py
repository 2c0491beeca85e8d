"""``OpenAICompatibleGenerator``: any server speaking the OpenAI chat-completions API (vLLM, llama.cpp
server, Ollama, hosted APIs), over httpx with timeouts and clear errors."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
from haystack import component, default_from_dict, default_to_dict
from haystack.utils import Secret, deserialize_secrets_inplace

from chronorag.pipeline.errors import GeneratorError
from chronorag.pipeline.local_generator import DEFAULT_SYSTEM_PROMPT, chat_messages

logger = logging.getLogger(__name__)

API_BASE_ENV = "CHRONORAG_LLM_API_BASE"
MODEL_ENV = "CHRONORAG_LLM_MODEL"
API_KEY_ENV = "CHRONORAG_LLM_API_KEY"
_RETRY_STATUSES = {429, 500, 502, 503, 504}


@component
class OpenAICompatibleGenerator:
    """
    Generates a reply with an OpenAI-compatible `/chat/completions` endpoint.

    The server, model and key come from init parameters or, when those are `None`, from
    `CHRONORAG_LLM_API_BASE`, `CHRONORAG_LLM_MODEL` and the key's environment variable; only the
    variable's *name* is serialised, never the key. Failures raise `GeneratorError` whose `reason`
    is `"timeout"`, `"connection"`, `"http_status"` (with `status`) or `"bad_json"`.

    ### Usage example

    ```python
    generator = OpenAICompatibleGenerator(api_base_url="http://127.0.0.1:8080/v1", model="smollm2")
    print(generator.run("Name a primary colour.")["replies"][0])
    for piece in generator.stream("Count to three."):
        print(piece, end="")
    ```
    """

    def __init__(
        self,
        api_base_url: str | None = None,
        model: str | None = None,
        api_key: Secret | None = None,
        timeout: float = 60.0,
        max_retries: int = 1,
        max_tokens: int = 96,
        temperature: float = 0.0,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        extra_body: dict[str, Any] | None = None,
        prefill: bool = False,
    ) -> None:
        """
        Create the generator; nothing connects until the first call.

        :param api_base_url: the API root ending in `/v1`, or `None` for `CHRONORAG_LLM_API_BASE`.
        :param model: the served model's name, or `None` for `CHRONORAG_LLM_MODEL`, else the server's
            first model.
        :param api_key: the key as a Haystack `Secret` (default: env var `CHRONORAG_LLM_API_KEY`, optional,
            since local servers need none).
        :param timeout: seconds allowed for connecting and for each read.
        :param max_retries: extra attempts after a timeout, connection error or 429/500/502/503/504.
        :param max_tokens: the reply's token budget.
        :param temperature: sampling temperature (0 = greedy).
        :param system_prompt: the system message, or `None` for none.
        :param extra_body: extra JSON fields for the request (e.g. `{"top_p": 0.9}`).
        :param prefill: send a `reply_prefix` as a trailing assistant message for the server to continue
            (llama.cpp server and vLLM with `extra_body={"continue_final_message": True,
            "add_generation_prompt": False}` do; the OpenAI API does not); off: the prefix is ignored.
        """
        self.api_base_url = api_base_url
        self.model = model
        self.api_key = api_key or Secret.from_env_var(API_KEY_ENV, strict=False)
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.system_prompt = system_prompt
        self.extra_body = extra_body or {}
        self.prefill = prefill
        self._client: httpx.Client | None = None
        self._resolved_model: str | None = None

    def warm_up(self) -> None:
        """Open the HTTP client (connection pooling across calls)."""
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout))

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters; the key as its environment variable name.
        """
        return default_to_dict(
            self,
            api_base_url=self.api_base_url,
            model=self.model,
            api_key=self.api_key.to_dict(),
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            system_prompt=self.system_prompt,
            extra_body=self.extra_body,
            prefill=self.prefill,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpenAICompatibleGenerator:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        deserialize_secrets_inplace(data["init_parameters"], keys=["api_key"])
        return default_from_dict(cls, data)

    @component.output_types(replies=list[str], meta=list[dict[str, Any]])
    def run(
        self,
        prompt: str,
        max_new_tokens: int | None = None,
        reply_prefix: str | None = None,
        examples: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """
        Generate one reply.

        :param prompt: the user message.
        :param max_new_tokens: overrides the configured token budget for this call.
        :param reply_prefix: with `prefill` on, the text the reply continues (and starts with).
        :param examples: worked examples (`{prompt, reply}`), sent before the prompt as earlier user and
            assistant turns (few-shot).
        :returns: `replies` (one string) and `meta` (model, token usage, finish reason).
        :raises GeneratorError: on timeout, connection failure, an error status or a malformed reply.
        """
        prefix = reply_prefix if self.prefill and reply_prefix else ""
        body = self._body(prompt, max_new_tokens, stream=False, prefix=prefix, examples=examples)
        reply, meta = self._reply(self._post(body), body["model"])
        return {"replies": [_join(prefix, reply).strip()], "meta": [meta]}

    def stream(
        self,
        prompt: str,
        max_new_tokens: int | None = None,
        reply_prefix: str | None = None,
        examples: list[dict[str, str]] | None = None,
    ) -> Iterator[str]:
        """
        Generate one reply as server-sent events.

        :param prompt: the user message.
        :param max_new_tokens: overrides the configured token budget for this call.
        :param reply_prefix: with `prefill` on, the text the reply starts with (yielded first).
        :param examples: worked examples before the prompt, as in `run`.
        :returns: an iterator of text pieces whose concatenation is the reply.
        :raises GeneratorError: as `run`, including when an event is not valid JSON.
        """
        self.warm_up()
        prefix = reply_prefix if self.prefill and reply_prefix else ""
        body = self._body(prompt, max_new_tokens, stream=True, prefix=prefix, examples=examples)
        assert self._client is not None
        if prefix:
            yield prefix
        try:
            with self._client.stream(
                "POST", self._endpoint(), json=body, headers=self._headers()
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._status_error(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    # A server that ignores "stream": one whole completion (or garbage) instead of events.
                    response.read()
                    yield self._reply(response, body["model"])[0]
                    return
                yield from self._events(response)
        except httpx.TimeoutException as exc:
            raise self._timeout_error(exc) from exc
        except httpx.TransportError as exc:
            raise self._connection_error(exc) from exc

    # --- request helpers --------------------------------------------------------------------------
    def _base_url(self) -> str:
        base = self.api_base_url or os.environ.get(API_BASE_ENV)
        if not base:
            raise GeneratorError(
                f"no OpenAI-compatible server configured: pass api_base_url or set {API_BASE_ENV} "
                "(e.g. http://127.0.0.1:8080/v1)",
                reason="config",
            )
        return base.rstrip("/")

    def _endpoint(self) -> str:
        return f"{self._base_url()}/chat/completions"

    def _headers(self) -> dict[str, str]:
        key = self.api_key.resolve_value()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _model_name(self) -> str:
        if self._resolved_model is None:
            self._resolved_model = self.model or os.environ.get(MODEL_ENV) or self._first_served_model()
        return self._resolved_model

    def _first_served_model(self) -> str:
        # llama.cpp server and vLLM serve one model; asking for its name saves the user a setting.
        self.warm_up()
        assert self._client is not None
        url = f"{self._base_url()}/models"
        try:
            response = self._client.get(url, headers=self._headers())
            return response.json()["data"][0]["id"]
        except httpx.TimeoutException as exc:
            raise self._timeout_error(exc) from exc
        except httpx.TransportError as exc:
            raise self._connection_error(exc) from exc
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GeneratorError(
                f"no model given (set {MODEL_ENV}) and {url} did not list one", reason="config"
            ) from exc

    def _body(
        self,
        prompt: str,
        max_new_tokens: int | None,
        stream: bool,
        prefix: str = "",
        examples: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        messages = chat_messages(self.system_prompt, prompt, examples)
        if prefix:
            messages.append({"role": "assistant", "content": prefix})
        return {
            **self.extra_body,
            "model": self._model_name(),
            "messages": messages,
            "max_tokens": max_new_tokens or self.max_tokens,
            "temperature": self.temperature,
            "stream": stream,
        }

    def _post(self, body: dict[str, Any]) -> httpx.Response:
        self.warm_up()
        assert self._client is not None
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._client.post(self._endpoint(), json=body, headers=self._headers())
            except httpx.TimeoutException as exc:
                if last:
                    raise self._timeout_error(exc) from exc
            except httpx.TransportError as exc:
                if last:
                    raise self._connection_error(exc) from exc
            else:
                if response.status_code < 400:
                    return response
                if last or response.status_code not in _RETRY_STATUSES:
                    raise self._status_error(response)
            logger.warning("retrying %s (attempt %d failed)", self._endpoint(), attempt + 1)
            time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _reply(self, response: httpx.Response, model: str) -> tuple[str, dict[str, Any]]:
        """The text and meta of a chat completion response.

        :raises GeneratorError: (`bad_json`) when the body is not an OpenAI chat completion.
        """
        try:
            data = response.json()
            choice = data["choices"][0]
            reply = choice["message"]["content"] or ""
            if not isinstance(reply, str):
                raise TypeError(f"content is {type(reply).__name__}")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise GeneratorError(
                f"{self._endpoint()} returned a reply that is not an OpenAI chat completion: "
                f"{response.text[:200]!r}",
                reason="bad_json",
                status=response.status_code,
            ) from exc
        usage = data.get("usage") or {}
        meta = {
            "model": data.get("model", model),
            "backend": "openai",
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "finish_reason": choice.get("finish_reason"),
        }
        return reply, meta

    def _events(self, response: httpx.Response) -> Iterator[str]:
        """The text pieces of a server-sent-event stream, up to `[DONE]`.

        :raises GeneratorError: (`bad_json`) when an event is not JSON, or when the body ends without a
            single event (a web page or other text where a stream was expected).
        """
        events = 0
        other: list[str] = []
        for line in response.iter_lines():
            if not line.startswith("data:"):
                # Blank lines separate events; ":" comments, event/id/retry fields are keep-alives.
                if line.strip() and not line.startswith((":", "event:", "id:", "retry:")):
                    other.append(line)
                continue
            events += 1
            piece = self._parse_event(line)
            if piece is None:
                return
            if piece:
                yield piece
        if not events:
            raise GeneratorError(
                f"{self._endpoint()} answered {response.headers.get('content-type', 'no content type')} "
                f"without a single server-sent event: {' '.join(other)[:200]!r}",
                reason="bad_json",
                status=response.status_code,
            )

    def _parse_event(self, line: str) -> str | None:
        """The text piece in one SSE line: `""` for keep-alives and empty deltas, `None` at `[DONE]`."""
        if not line.startswith("data:"):
            return ""
        payload = line[len("data:") :].strip()
        if payload == "[DONE]":
            return None
        try:
            delta = json.loads(payload)["choices"][0].get("delta") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise GeneratorError(
                f"{self._endpoint()} streamed an event that is not JSON: {payload[:200]!r}", reason="bad_json"
            ) from exc
        return delta.get("content") or ""

    # --- errors ---------------------------------------------------------------------------------
    def _timeout_error(self, exc: Exception) -> GeneratorError:
        return GeneratorError(
            f"{self._endpoint()} did not answer within {self.timeout:g} s ({type(exc).__name__})",
            reason="timeout",
        )

    def _connection_error(self, exc: Exception) -> GeneratorError:
        return GeneratorError(f"could not reach {self._endpoint()}: {exc}", reason="connection")

    def _status_error(self, response: httpx.Response) -> GeneratorError:
        return GeneratorError(
            f"{self._endpoint()} answered HTTP {response.status_code}: {response.text[:200]!r}",
            reason="http_status",
            status=response.status_code,
        )


def _join(prefix: str, reply: str) -> str:
    """The prefilled reply: servers return only the continuation, a few repeat the prefix."""
    if not prefix or reply.startswith(prefix):
        return reply
    return prefix + reply
