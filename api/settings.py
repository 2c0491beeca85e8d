"""Server settings: who may write, how large requests may be, and which pipeline preset to build.

Settings are a frozen pydantic model so that one object, built once by ``chronorag serve`` (or a
test), configures every route; nothing reads the environment after the app is created.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Hard ceilings: the request schemas state them in the OpenAPI schema; settings may only lower them.
MAX_QUESTION_CHARS = 2_000
MAX_TOP_K = 100
MAX_BATCH_DOCUMENTS = 500
MAX_DOCUMENT_CHARS = 200_000
MAX_ID_CHARS = 256
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024

API_KEY_ENV = "CHRONORAG_API_KEY"
INGEST_BACKEND_ENV = "CHRONORAG_INGEST_BACKEND"


class ApiSettings(BaseModel):
    """Everything the web layer can be told at start-up.

    :param api_key: the key that writes (and keyed reads) must present; ``None`` when not configured.
    :param insecure_open_writes: allow writes without a key when no key is configured (explicit opt-in).
    :param protect_reads: require the key on read routes too (ask, retrieve, decompose, document GET).
    :param preset: the ``build_pipeline`` preset used when no pipeline YAML is given.
    :param pipeline_options: ``build_pipeline`` options overriding the preset (e.g. ``generator``).
    :param max_body_bytes: request bodies above this are refused with 413 before they are parsed.
    :param max_question_chars: longest question accepted by ask/retrieve/decompose.
    :param max_top_k: largest ``top_k`` accepted.
    :param max_batch_documents: most documents in one ingest request.
    :param max_document_chars: longest document text accepted in an ingest request.
    :param stream_timeout_s: how long a streaming answer may wait for its next token before it is cut off.
    :param ingest_backend: how ``/v1/documents`` embeds passages, as ``chronorag index --backend``: ``auto``
        (the fastest installed CPU backend, OpenVINO int8 where available; torch on a GPU), ``openvino``,
        ``onnx`` or ``torch``.
    :param header_timeout_s: a request's line and headers must arrive within this many seconds of its first
        byte (or of the connection's opening); else 408 and the connection is closed (slow-loris clients).
    :param body_timeout_s: a request's whole body must arrive within this many seconds of its headers;
        else 408.
    :param keep_alive_s: an idle keep-alive connection is closed after this many seconds.
    :param max_concurrent_requests: requests served at once by one worker; more are answered 503
        ``overloaded`` with ``Retry-After`` (``/healthz``, ``/readyz`` and ``/metrics`` are exempt).
    :param max_connections: open connections per worker past which new requests get uvicorn's plain 503
        (its ``limit_concurrency``), a backstop against connection floods.
    """

    model_config = ConfigDict(frozen=True)

    api_key: str | None = Field(default=None, repr=False)
    insecure_open_writes: bool = False
    protect_reads: bool = False
    preset: str = "fast"
    pipeline_options: dict[str, Any] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    max_question_chars: int = Field(default=MAX_QUESTION_CHARS, ge=1, le=MAX_QUESTION_CHARS)
    max_top_k: int = Field(default=MAX_TOP_K, ge=1, le=MAX_TOP_K)
    max_batch_documents: int = Field(default=MAX_BATCH_DOCUMENTS, ge=1, le=MAX_BATCH_DOCUMENTS)
    max_document_chars: int = Field(default=MAX_DOCUMENT_CHARS, ge=1, le=MAX_DOCUMENT_CHARS)
    stream_timeout_s: float = Field(default=120.0, gt=0)
    ingest_backend: Literal["auto", "openvino", "onnx", "torch"] = "auto"
    header_timeout_s: float = Field(default=10.0, gt=0, le=600)
    body_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    keep_alive_s: int = Field(default=5, ge=1, le=600)
    max_concurrent_requests: int = Field(default=64, ge=1)
    max_connections: int = Field(default=512, ge=2)

    @field_validator("api_key")
    @classmethod
    def _blank_key_is_no_key(cls, value: str | None) -> str | None:
        # An empty CHRONORAG_API_KEY= must not turn into "the empty string is the password".
        if value is None or not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _protected_reads_need_a_key(self) -> ApiSettings:
        # Protecting reads without a key would silently leave them open: refuse the combination.
        if self.protect_reads and self.api_key is None:
            raise ValueError(f"protect_reads needs an API key ({API_KEY_ENV})")
        return self

    @property
    def writes_enabled(self) -> bool:
        """True when write routes can succeed at all (a key is configured, or open writes were asked for)."""
        return self.api_key is not None or self.insecure_open_writes

    @classmethod
    def from_env(cls, **overrides: object) -> ApiSettings:
        """Settings with the API key read from ``CHRONORAG_API_KEY`` (and the ingestion backend from
        ``CHRONORAG_INGEST_BACKEND`` when set).

        :param overrides: any field, taking precedence over the environment.
        :returns: the settings.
        """
        values: dict[str, object] = {"api_key": os.environ.get(API_KEY_ENV)}
        if os.environ.get(INGEST_BACKEND_ENV):
            values["ingest_backend"] = os.environ[INGEST_BACKEND_ENV]
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)
