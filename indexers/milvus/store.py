"""``MilvusStore``: chronorag's store on Milvus (Milvus Lite on a file, or a Milvus server or cluster).

It implements :class:`chronorag.indexers.backend.ChronoStore` with the local store's semantics, so the
time-aware retrievers, the event index, ingestion, the API and the CLI use it unchanged.

**Collections.** ``NAME`` holds the passages, one row each:

==============  ==========================  ========================================================
field           type                        what
==============  ==========================  ========================================================
id              VARCHAR, primary key        the passage id
seq             INT64                       insertion order (what ``filter_documents`` returns in)
doc_id          VARCHAR                     ``meta["doc_id"]`` (``""`` when absent): ``delete_source``
pub_day         INT64                       proven publication day ordinal; ``0``: undated/inferred
span_cover      ARRAY<INT64> (4096)         calendar-tree nodes covering the spans (``spans.py``)
span_path       ARRAY<INT64> (4096)         those nodes and their ancestors
span_overflow   BOOL                        more nodes than an array holds: checked in Python
span_count      INT64                       ``len(meta["time_spans"])`` (statistics)
has_vector      BOOL                        the passage has an embedding
vector          FLOAT_VECTOR(dim), COSINE   the embedding as given (a unit placeholder when none)
text            VARCHAR, analyzer           ``passage_text`` (title. content), BM25's input
sparse          SPARSE_FLOAT_VECTOR         Milvus's BM25 function output (k1 1.5, b 0.75)
payload         VARCHAR (JSON)              the Document without its embedding (the float64
                                            embedding when float32 cannot hold it exactly)
meta_str        JSON                        the string-valued meta, for exact filters in Milvus
==============  ==========================  ========================================================

``NAME__info`` holds the model, dimension, schema version, index type, the *generation* and the next
``seq``; ``NAME__sources`` the ingested source documents (``doc_id``, content hash, passage count).

**Restrictions before the search.** Publication bounds, time windows and Haystack filters become one
Milvus expression evaluated before the vector or BM25 search (``expressions.py``); filters Milvus cannot
evaluate exactly are decided by Haystack's matcher on the narrowed passages and passed on as ids.
Scores are cosine similarities re-computed from the returned float32 vectors (exact whatever the index
type, e.g. a quantised GPU index on a cluster); BM25 scores are Milvus's, over the same text and with
bm25s's English stop words and parameters, as the local store's ``bm25/`` index.

**Writes.** Milvus has no multi-row transactions, so a batch is committed by what is written *last*:
``write_batch`` validates everything first (ids, dimensions, sizes; nothing is written on an error),
upserts the passages, deletes a replaced document's stale passages, records the source documents and
then the new generation. A crash in between leaves passages whose source record is missing or old, so a
re-run of the ingestion writes those documents again (upserts are idempotent) and nothing acknowledged
is lost. One writer per collection at a time (Milvus Lite enforces one process per file).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from haystack import Document, default_from_dict, default_to_dict
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.document_stores.types import DuplicatePolicy
from haystack.utils import Secret, deserialize_secrets_inplace
from haystack.utils.filters import document_matches_filter

from chronorag.indexers.backend import is_milvus_location
from chronorag.indexers.errors import (
    EmbeddingDimensionError,
    StoreCorruptError,
    StoreError,
    StoreMismatchError,
)
from chronorag.indexers.local_store.filters import validate_filters
from chronorag.indexers.local_store.rows import (
    _document_payload,
    _json_default,
    _span_days,
    day_of,
    normalise,
)
from chronorag.indexers.milvus.expressions import (
    Expression,
    add_publication_bounds,
    add_time_window,
    render,
    translate_filters,
)
from chronorag.indexers.milvus.spans import span_arrays
from chronorag.indexers.store_extended import ExtendedStoreMixin
from chronorag.indexers.text import passage_text
from chronorag.indexers.validation import check_documents
from chronorag.temporal.meta import is_inferred
from chronorag.temporal.model import Interval

DEFAULT_COLLECTION = "chronorag"
TOKEN_ENV = "CHRONORAG_MILVUS_TOKEN"
SCHEMA_VERSION = 1
SCHEME = "milvus://"
ARRAY_CAPACITY = 4096  # Milvus's largest array
MAX_TEXT = 65535  # Milvus's longest VARCHAR, in bytes
MAX_TOP_K = 16384  # Milvus's largest search limit
_WRITE_CHUNK = 512  # rows per upsert request
_AUX_DIM = 2  # the info and sources collections' placeholder vector (Milvus wants one per collection)
_INFO, _SOURCES = "__info", "__sources"
_ROW_FIELDS = ["id", "seq", "payload", "has_vector", "span_overflow"]
# chronorag's index names -> Milvus index types; any Milvus index type (upper case) is taken as it is.
INDEX_TYPES = {"flat": "FLAT", "ivf": "IVF_FLAT", "hnsw": "HNSW"}
_DEFAULT_INDEX_PARAMS = {"IVF_FLAT": {"nlist": 1024}, "HNSW": {"M": 16, "efConstruction": 200}}
_DEFAULT_SEARCH_PARAMS = {"IVF_FLAT": {"nprobe": 16}, "HNSW": {"ef": 64}}


def parse_location(location: str) -> tuple[str, str]:
    """
    Split a Milvus store location into the client URI and the collection.

    ``milvus:///abs/file.db`` and ``milvus://rel/file.db`` are Milvus Lite files (the client URI is the
    path); ``http://host:19530`` is a server. ``?collection=NAME`` picks the collection (default
    ``chronorag``).

    :param location: the location.
    :returns: ``(uri, collection)``.
    :raises ValueError: when it is not a Milvus location or a Milvus Lite path does not end in ``.db``.
    """
    location = str(location)
    if not is_milvus_location(location):
        raise ValueError(
            f"{location!r} is not a Milvus location (milvus:///path/file.db or http://host:port)"
        )
    base, _, query = location.partition("?")
    collection = (parse_qs(query).get("collection") or [DEFAULT_COLLECTION])[0]
    if base.startswith(SCHEME):
        base = base[len(SCHEME) :]
        if not base.endswith(".db"):
            raise ValueError(
                f"a Milvus Lite location names a .db file: milvus:///path/file.db, not {location!r}"
            )
    return base, collection


def _is_lite(uri: str) -> bool:
    return not urlsplit(uri).scheme


class MilvusStore(ExtendedStoreMixin):
    """A :class:`ChronoStore` on Milvus: Milvus Lite (a local ``.db`` file) or a Milvus server/cluster.

    Usage::

        store = MilvusStore("milvus:///data/chronorag.db")                  # Milvus Lite
        store = MilvusStore("http://milvus:19530", collection="enwiki")     # a server; token from env
        store.search(query_embedding, top_k=5, time_window=Interval.years(1995, 1997))
    """

    def __init__(
        self,
        uri: str,
        collection: str | None = None,
        token: Secret | None = Secret.from_env_var(TOKEN_ENV, strict=False),  # noqa: B008
        db_name: str = "",
        embedding_model: str | None = None,
        embedding_dim: int | None = None,
        index_type: str | None = None,
        index_params: dict[str, Any] | None = None,
        search_params: dict[str, Any] | None = None,
        read_only: bool = False,
        timeout: float = 30.0,
    ) -> None:
        """
        Connect to Milvus and open the collection, creating it when missing (unless ``read_only``).

        :param uri: ``milvus:///path/file.db`` (Milvus Lite; ``?collection=`` allowed), a bare ``.db``
            path, or a server's ``http://host:19530``.
        :param collection: the collection (default: the URI's ``?collection=``, else ``chronorag``).
        :param token: the server's token (``user:password`` or an API key); default: the
            ``CHRONORAG_MILVUS_TOKEN`` environment variable, when set. Never serialised in clear.
        :param db_name: the Milvus database (server only; ``""``: the default one).
        :param embedding_model: the model the vectors come from; ``None`` accepts the recorded one (a new
            store records ``chronorag.models.embedding_model_id()``); another recorded model raises.
        :param embedding_dim: the vector dimension; ``None`` accepts the recorded one (384 for a new store).
        :param index_type: ``flat``, ``ivf``, ``hnsw`` or a Milvus index type (``GPU_CAGRA``,
            ``GPU_IVF_PQ``, ``DISKANN``...) for a new collection; ``None``: ``flat``.
        :param index_params: Milvus index build parameters (default: per index type).
        :param search_params: Milvus search parameters (default: per index type).
        :param read_only: never write (a missing collection raises instead of being created).
        :param timeout: seconds for connecting and for each request.
        :raises StoreError: when Milvus cannot be reached, or (read-only) the collection does not exist.
        :raises StoreMismatchError: when the collection holds another model's or dimension's vectors,
            or is not a chronorag collection.
        """
        location = str(uri)
        if location.startswith(SCHEME):
            client_uri, named = parse_location(location)
        else:
            base, _, query = location.partition("?")
            client_uri = base
            named = (parse_qs(query).get("collection") or [DEFAULT_COLLECTION])[0]
        self.uri = location
        self.collection = collection or named
        if not self.collection.replace("_", "a").isalnum() or self.collection[0].isdigit():
            raise ValueError(f"collection name {self.collection!r}: letters, digits and _ only")
        self.token = token
        self.db_name = db_name
        self.embedding_model = embedding_model
        self.embedding_dim = embedding_dim
        self.index_type = index_type
        self.index_params = index_params
        self.search_params = search_params
        self.read_only = read_only
        self.timeout = timeout
        self.lite = _is_lite(client_uri)
        self._client_uri = client_uri
        self.path = self._location()
        self._lock = threading.RLock()
        self._client = self._connect()
        self.model_id, self.dim, self.milvus_index_type = self._open()

    # ------------------------------------------------------------------ connecting and opening
    def _location(self) -> str:
        base = f"{SCHEME}{self._client_uri}" if self.lite else self._client_uri
        return base if self.collection == DEFAULT_COLLECTION else f"{base}?collection={self.collection}"

    def _connect(self) -> Any:
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise StoreError(
                f"{self.path!r} is a Milvus store, which needs pymilvus (and milvus-lite for a .db file): "
                "pip install 'chronorag[milvus]'"
            ) from exc

        if self.lite:
            if self.read_only and not Path(self._client_uri).exists():
                raise StoreError(f"no store at {self.path!r} (no Milvus Lite file {self._client_uri})")
            Path(self._client_uri).parent.mkdir(parents=True, exist_ok=True)
        token = self.token.resolve_value() if self.token is not None else None
        try:
            return MilvusClient(
                uri=self._client_uri, token=token or "", db_name=self.db_name, timeout=self.timeout
            )
        except Exception as exc:  # pymilvus raises MilvusException, gRPC or OS errors alike
            hint = (
                "a Milvus Lite file is served to one process at a time: is another chronorag using it? "
                "Use a Milvus server for several processes"
                if self.lite
                else f"is the server running and the URI (http://host:19530) and token ({TOKEN_ENV}) right?"
            )
            raise StoreError(f"cannot reach Milvus at {self.path!r} ({exc}); {hint}") from exc

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a client call, turning Milvus's errors into :class:`StoreError` naming the store."""
        from pymilvus.exceptions import MilvusException

        try:
            return function(*args, **kwargs)
        except MilvusException as exc:
            raise StoreError(f"Milvus store {self.path!r}: {what} failed ({exc})") from exc

    def _open(self) -> tuple[str, int, str]:
        name = self.collection
        client = self._client
        if not self._call("listing collections", client.has_collection, name + _INFO):
            if client.has_collection(name):
                raise StoreMismatchError(
                    f"collection {name!r} at {self.path!r} is not a chronorag store "
                    f"(it has no {name + _INFO})"
                )
            if self.read_only:
                raise StoreError(f"no store at {self.path!r} (no collection {name!r})")
            self._create_info()
        self._load(name + _INFO)
        info = self._info()
        if info.get("schema_version") != str(SCHEMA_VERSION):
            raise StoreMismatchError(
                f"store {self.path!r} has schema version {info.get('schema_version')}; this chronorag "
                f"reads version {SCHEMA_VERSION}: index the corpus again into a new collection"
            )
        model, dim = info["embedding_model"], int(info["embedding_dim"])
        if self.embedding_model is not None and self.embedding_model != model:
            raise StoreMismatchError(
                f"store {self.path!r} holds vectors of {model!r}, not {self.embedding_model!r}; "
                "index into a new collection or re-index this one with that model"
            )
        if self.embedding_dim is not None and self.embedding_dim != dim:
            raise StoreMismatchError(
                f"store {self.path!r} holds {dim}-d vectors, not {self.embedding_dim}-d ones"
            )
        index_type = info.get("index_type", "FLAT")
        if not self.read_only:
            if not client.has_collection(name + _SOURCES):
                self._create_sources()
            if not client.has_collection(name):
                self._create_passages(dim, index_type)
        for collection in (name + _SOURCES, name):
            if not client.has_collection(collection):
                raise StoreError(f"no store at {self.path!r} (collection {collection!r} is missing)")
            self._load(collection)
        recorded = self._vector_dim()
        if recorded != dim:
            raise StoreCorruptError(self.path, f"its vectors are {recorded}-d but {dim}-d are recorded")
        return model, dim, index_type

    def _load(self, collection: str) -> None:
        self._call(f"loading {collection}", self._client.load_collection, collection)

    def _vector_dim(self) -> int:
        fields = self._client.describe_collection(self.collection)["fields"]
        vector = next(f for f in fields if f["name"] == "vector")
        return int(vector["params"]["dim"])

    def _create_info(self) -> None:
        from chronorag.indexers.local_store.rows import DEFAULT_DIM
        from chronorag.models import embedding_model_id

        index_type = self._milvus_index_type(self.index_type or "flat")
        schema = self._aux_schema("key")
        schema.add_field("value", _datatype().VARCHAR, max_length=MAX_TEXT)
        self._create(self.collection + _INFO, schema)
        values = {
            "schema_version": SCHEMA_VERSION,
            "embedding_model": self.embedding_model or embedding_model_id(),
            "embedding_dim": self.embedding_dim or DEFAULT_DIM,
            "index_type": index_type,
            "generation": 0,
            "next_seq": 0,
        }
        self._set_info(values)

    def _create_sources(self) -> None:
        schema = self._aux_schema("doc_id")
        schema.add_field("content_hash", _datatype().VARCHAR, max_length=256)
        schema.add_field("passages", _datatype().INT64)
        self._create(self.collection + _SOURCES, schema)

    def _aux_schema(self, key: str) -> Any:
        types = _datatype()
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(key, types.VARCHAR, is_primary=True, max_length=MAX_TEXT)
        schema.add_field("aux_vector", types.FLOAT_VECTOR, dim=_AUX_DIM)
        return schema

    def _create(self, name: str, schema: Any, index_params: Any = None) -> None:
        if index_params is None:
            index_params = self._client.prepare_index_params()
            index_params.add_index("aux_vector", index_type="FLAT", metric_type="L2")
        self._call(
            f"creating {name}",
            self._client.create_collection,
            name,
            schema=schema,
            consistency_level="Strong",
        )
        # Without waiting on each index (pymilvus polls every 0.5 s): loading waits until they serve.
        self._call(f"indexing {name}", self._client.create_index, name, index_params, sync=False)
        self._load(name)

    def _create_passages(self, dim: int, index_type: str) -> None:
        import bm25s.stopwords
        from pymilvus import Function, FunctionType

        types = _datatype()
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", types.VARCHAR, is_primary=True, max_length=MAX_TEXT)
        schema.add_field("seq", types.INT64)
        schema.add_field("doc_id", types.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("pub_day", types.INT64)
        for name in ("span_cover", "span_path"):
            schema.add_field(name, types.ARRAY, element_type=types.INT64, max_capacity=ARRAY_CAPACITY)
        schema.add_field("span_overflow", types.BOOL)
        schema.add_field("span_count", types.INT64)
        schema.add_field("has_vector", types.BOOL)
        schema.add_field("vector", types.FLOAT_VECTOR, dim=dim)
        # The same stop words as the local store's bm25s index, so both rank alike.
        analyzer = {
            "tokenizer": "standard",
            "filter": ["lowercase", {"type": "stop", "stop_words": sorted(bm25s.stopwords.STOPWORDS_EN)}],
        }
        schema.add_field(
            "text", types.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True, analyzer_params=analyzer
        )
        schema.add_field("sparse", types.SPARSE_FLOAT_VECTOR)
        schema.add_field("payload", types.VARCHAR, max_length=MAX_TEXT)
        schema.add_field("meta_str", types.JSON)
        schema.add_function(
            Function(
                name="bm25",
                input_field_names=["text"],
                output_field_names=["sparse"],
                function_type=FunctionType.BM25,
            )
        )
        index_params = self._client.prepare_index_params()
        params = self.index_params or _DEFAULT_INDEX_PARAMS.get(index_type, {})
        index_params.add_index("vector", index_type=index_type, metric_type="COSINE", params=params)
        index_params.add_index(
            "sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": 1.5, "bm25_b": 0.75},
        )
        for name in ("seq", "pub_day", "doc_id"):
            index_params.add_index(name, index_type="INVERTED")
        self._create(self.collection, schema, index_params)

    @staticmethod
    def _milvus_index_type(index_type: str) -> str:
        if index_type in INDEX_TYPES:
            return INDEX_TYPES[index_type]
        if index_type.isupper():
            return index_type
        raise ValueError(
            f"index_type must be one of {sorted(INDEX_TYPES)} or a Milvus index type, not {index_type!r}"
        )

    # ------------------------------------------------------------------ info and generation
    def _info(self) -> dict[str, str]:
        rows = self._call(
            "reading the store info",
            self._client.query,
            self.collection + _INFO,
            filter='key != ""',
            output_fields=["key", "value"],
        )
        return {row["key"]: row["value"] for row in rows}

    def _set_info(self, values: dict[str, Any]) -> None:
        rows = [{"key": k, "value": str(v), "aux_vector": [1.0, 0.0]} for k, v in values.items()]
        self._call("writing the store info", self._client.upsert, self.collection + _INFO, rows)

    @property
    def generation(self) -> int:
        """The number of committed writes, as recorded in Milvus (changes whenever the contents change)."""
        rows = self._client.query(self.collection + _INFO, ids=["generation"], output_fields=["value"])
        return int(rows[0]["value"]) if rows else 0

    def _commit(self, next_seq: int | None = None) -> None:
        """Number a finished write: the last thing a write does (see the module's documentation)."""
        values: dict[str, Any] = {"generation": self.generation + 1}
        if next_seq is not None:
            values["next_seq"] = next_seq
        self._set_info(values)

    def _next_seq(self) -> int:
        """The next insertion number: the recorded one, past any row a crashed write numbered after it."""
        recorded = int(self._info().get("next_seq", 0))
        later = self._client.query(
            self.collection, filter=render("seq >= {s}", s=recorded), output_fields=["seq"]
        )
        return max([recorded, *(int(r["seq"]) + 1 for r in later)])

    @property
    def derived_folder(self) -> str:
        """Where indexes derived from this store (the event index) are kept: beside a Milvus Lite file, or
        under ``CHRONORAG_CACHE_DIR`` for a server."""
        if self.lite:
            return f"{self._client_uri}.chronorag/{self.collection}"
        digest = hashlib.sha1(f"{self._client_uri}|{self.db_name}|{self.collection}".encode()).hexdigest()[
            :16
        ]
        cache = Path(os.environ.get("CHRONORAG_CACHE_DIR") or Path.home() / ".cache" / "chronorag")
        return str(cache / "milvus" / digest)

    @property
    def device(self) -> str:
        """``"gpu"`` for a GPU index type on a server, else ``"cpu"``."""
        return "gpu" if self.milvus_index_type.startswith("GPU") else "cpu"

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """
        :returns: the init parameters (the token as an environment-variable ``Secret``, never in clear).
        """
        return default_to_dict(
            self,
            uri=self.uri,
            collection=self.collection,
            token=self.token.to_dict() if self.token is not None else None,
            db_name=self.db_name,
            embedding_model=self.embedding_model,
            embedding_dim=self.embedding_dim,
            index_type=self.index_type,
            index_params=self.index_params,
            search_params=self.search_params,
            read_only=self.read_only,
            timeout=self.timeout,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MilvusStore:
        """
        :param data: :meth:`to_dict`'s output.
        :returns: the store.
        """
        deserialize_secrets_inplace(data.get("init_parameters", {}), keys=["token"])
        return default_from_dict(cls, data)

    # ------------------------------------------------------------------ rows
    def _row(self, document: Document) -> dict[str, Any]:
        """A passage as a Milvus row (without its ``seq``), checked for what Milvus cannot hold."""
        payload = _document_payload(document)
        vector: list[float] | None = None
        if document.embedding is not None:
            as64 = np.asarray(document.embedding, dtype=np.float64).reshape(-1)
            if len(as64) != self.dim:
                raise EmbeddingDimensionError(
                    f"document {document.id!r} has a {len(as64)}-d embedding; "
                    f"store {self.path!r} holds {self.dim}-d vectors of {self.model_id!r}"
                )
            as32 = as64.astype(np.float32)
            if not np.array_equal(as32.astype(np.float64), as64):
                payload["embedding"] = as64.tolist()  # kept exactly, as the local store does
            vector = as32.tolist()
        meta = document.meta or {}
        spans = [
            days for s in meta.get("time_spans") or [] if isinstance(s, dict) and (days := _span_days(s))
        ]
        cover, path = span_arrays(spans)
        overflow = len(path) > ARRAY_CAPACITY
        data = json.dumps(payload, default=_json_default)
        text = passage_text(document)
        for what, value in (("id", document.id), ("document", data), ("text", text)):
            if len(value.encode("utf-8")) > MAX_TEXT:
                raise ValueError(
                    f"passage {document.id!r}: its {what} is over {MAX_TEXT} bytes, the most a Milvus "
                    "field holds; split it into shorter passages"
                )
        doc_id = meta.get("doc_id")
        return {
            "id": document.id,
            "doc_id": str(doc_id) if doc_id is not None else "",
            # The publication-day index holds proof of publication only (chronorag.temporal.meta).
            "pub_day": 0 if is_inferred(meta) else (day_of(meta.get("date")) or 0),
            "span_cover": [] if overflow else cover,
            "span_path": [] if overflow else path,
            "span_overflow": overflow,
            "span_count": len(meta.get("time_spans") or [])
            if isinstance(meta.get("time_spans"), list)
            else 0,
            "has_vector": vector is not None,
            "vector": vector if vector is not None else _placeholder(self.dim),
            "text": text,
            "payload": data,
            "meta_str": {k: v for k, v in meta.items() if isinstance(k, str) and isinstance(v, str)},
        }

    def _document(self, row: dict[str, Any], with_embedding: bool, score: float | None = None) -> Document:
        payload = json.loads(row["payload"])
        embedding = payload.pop("embedding", None)
        if not with_embedding:
            embedding = None
        elif embedding is None and row.get("has_vector"):
            embedding = np.asarray(row["vector"], dtype=np.float32).tolist()
        payload["embedding"] = embedding
        payload["score"] = score
        return Document.from_dict(payload)

    def _query_rows(self, expression: Expression, fields: list[str], batch_size: int = 2000) -> list[dict]:
        """Every row matching ``expression`` (all rows when empty), in insertion order."""
        text = expression.text or "seq >= 0"
        iterator = self._call(
            "querying",
            self._client.query_iterator,
            self.collection,
            batch_size=batch_size,
            filter=text,
            output_fields=fields,
        )
        rows: list[dict] = []
        try:
            while batch := iterator.next():
                rows.extend(batch)
        finally:
            iterator.close()
        rows.sort(key=lambda r: r["seq"])
        return rows

    def _documents(self, expression: Expression, with_embedding: bool) -> list[Document]:
        fields = _ROW_FIELDS + (["vector"] if with_embedding else [])
        return [self._document(r, with_embedding) for r in self._query_rows(expression, fields)]

    # ------------------------------------------------------------------ DocumentStore protocol
    def count_documents(self) -> int:
        """:returns: the number of passages."""
        return self._count("")

    def _count(self, expression: str) -> int:
        rows = self._call(
            "counting", self._client.query, self.collection, filter=expression, output_fields=["count(*)"]
        )
        return int(rows[0]["count(*)"])

    def filter_documents(self, filters: dict[str, Any] | None = None) -> list[Document]:
        """
        The passages matching Haystack ``filters`` (all when ``None``), in insertion order, with embeddings.

        :param filters: Haystack filters.
        :returns: the documents.
        :raises FilterError: on malformed filters.
        """
        expression = Expression()
        if filters:
            validate_filters(filters)
            translate_filters(filters, expression)
        documents = self._documents(expression, with_embedding=True)
        if filters:
            documents = [d for d in documents if document_matches_filter(filters, d)]
        return documents

    def write_documents(
        self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE
    ) -> int:
        """
        Write passages; ``NONE`` means ``FAIL``.

        :param documents: Haystack documents; an embedding must have the store's dimension.
        :param policy: what to do with ids already stored (or repeated in the batch).
        :returns: the number written.
        :raises DuplicateDocumentError: with ``FAIL`` when an id exists; nothing is written then.
        :raises EmbeddingDimensionError: on another dimension; nothing is written then.
        """
        return self.write_batch(documents, policy=policy)

    def write_batch(
        self,
        documents: list[Document],
        policy: DuplicatePolicy = DuplicatePolicy.NONE,
        sources: dict[str, tuple[str, int]] | None = None,
        replace_sources: Iterable[str] = (),
    ) -> int:
        """
        Write passages and record their source documents (see the module's documentation for the order
        that makes a re-run complete an interrupted batch).

        :param documents: the passages.
        :param policy: duplicate policy, as for :meth:`write_documents`.
        :param sources: ``{doc_id: (content_hash, passage_count)}`` recorded after the passages.
        :param replace_sources: doc ids whose other passages are deleted.
        :returns: the number of passages written.
        """
        if not isinstance(documents, list) or any(not isinstance(d, Document) for d in documents):
            raise ValueError("write_documents expects a list of Documents")
        if policy == DuplicatePolicy.NONE:
            policy = DuplicatePolicy.FAIL
        check_documents(documents)  # the same refusals as the local store (control characters, NaN)
        rows = [self._row(d) for d in documents]
        replace_sources = list(replace_sources)
        with self._writing():
            existing = self._existing_ids([d.id for d in documents])
            chosen: dict[str, int] = {}
            for position, document in enumerate(documents):
                if document.id in existing or document.id in chosen:
                    if policy == DuplicatePolicy.FAIL:
                        raise DuplicateDocumentError(f"ID '{document.id}' already exists.")
                    if policy == DuplicatePolicy.SKIP:
                        continue
                chosen.pop(document.id, None)  # OVERWRITE: the last copy wins, numbered last
                chosen[document.id] = position
            seq = self._next_seq()
            batch = []
            for offset, position in enumerate(chosen.values()):
                batch.append({**rows[position], "seq": seq + offset})
            for start in range(0, len(batch), _WRITE_CHUNK):
                self._call(
                    "writing passages",
                    self._client.upsert,
                    self.collection,
                    batch[start : start + _WRITE_CHUNK],
                )
            if replace_sources:
                self._delete_stale(replace_sources, set(chosen))
            if sources:
                records = [
                    {"doc_id": k, "content_hash": h, "passages": int(n), "aux_vector": [1.0, 0.0]}
                    for k, (h, n) in sources.items()
                ]
                self._call("recording sources", self._client.upsert, self.collection + _SOURCES, records)
            if batch or replace_sources or sources:
                self._commit(next_seq=seq + len(batch))
        return len(chosen)

    def _existing_ids(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 4096):
            chunk = unique[start : start + 4096]
            rows = self._call(
                "reading ids",
                self._client.query,
                self.collection,
                filter=render("id in {ids}", ids=chunk),
                output_fields=["id"],
            )
            found.update(r["id"] for r in rows)
        return found

    def _delete_stale(self, doc_ids: list[str], keep: set[str]) -> None:
        rows = self._call(
            "reading passages",
            self._client.query,
            self.collection,
            filter=render("doc_id in {d}", d=doc_ids),
            output_fields=["id"],
        )
        stale = [r["id"] for r in rows if r["id"] not in keep]
        self._delete_ids(stale)

    def _delete_ids(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 4096):
            chunk = ids[start : start + 4096]
            self._call(
                "deleting passages",
                self._client.delete,
                self.collection,
                filter=render("id in {ids}", ids=chunk),
            )

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"store {self.path!r} was opened read-only")

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """The write lock, held from a write's selection to its commit (``ExtendedStoreMixin`` uses it)."""
        with self._lock:
            self._check_writable()
            yield

    def delete_documents(self, document_ids: list[str]) -> None:
        """
        Delete passages by id; unknown ids are ignored.

        :param document_ids: the ids.
        """
        with self._writing():
            ids = sorted(self._existing_ids(list(document_ids)))
            if ids:
                self._delete_ids(ids)
                self._commit()

    def delete_source(self, doc_id: str) -> int:
        """
        Delete every passage of a source document and its ingestion record.

        :param doc_id: the source document's id.
        :returns: the number of passages deleted.
        """
        with self._writing():
            rows = self._client.query(
                self.collection, filter=render("doc_id == {d}", d=doc_id), output_fields=["id"]
            )
            self._delete_ids([r["id"] for r in rows])
            self._call("deleting a source", self._client.delete, self.collection + _SOURCES, ids=[doc_id])
            self._commit()
        return len(rows)

    def delete_all_documents(self) -> None:
        """Delete every passage and source record (the store keeps its model and dimension)."""
        with self._writing():
            for name in (self.collection, self.collection + _SOURCES):
                self._call("dropping", self._client.drop_collection, name)
            self._create_sources()
            self._create_passages(self.dim, self.milvus_index_type)
            self._commit(next_seq=0)

    # ------------------------------------------------------------------ reading
    def get_documents_by_id(self, ids: list[str], return_embedding: bool = False) -> list[Document]:
        """
        :param ids: passage ids.
        :param return_embedding: include the embeddings.
        :returns: the passages found, in the order asked.
        """
        found: dict[str, Document] = {}
        fields = _ROW_FIELDS + (["vector"] if return_embedding else [])
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 4096):
            rows = self._call(
                "reading passages",
                self._client.query,
                self.collection,
                ids=unique[start : start + 4096],
                output_fields=fields,
            )
            found.update((r["id"], self._document(r, return_embedding)) for r in rows)
        return [found[i] for i in ids if i in found]

    def iter_documents(self, batch_size: int = 1000, return_embedding: bool = False) -> Iterator[Document]:
        """
        Every passage in insertion order, read ``seq`` range by range.

        :param batch_size: the ``seq`` range read per query.
        :param return_embedding: include the embeddings.
        :returns: an iterator of documents.
        """
        end = self._next_seq()
        fields = _ROW_FIELDS + (["vector"] if return_embedding else [])
        for low in range(0, end, batch_size):
            expression = Expression()
            expression.add("seq >= {low} and seq < {high}", low=low, high=low + batch_size)
            for row in self._query_rows(expression, fields):
                yield self._document(row, return_embedding)

    def source_hashes(self) -> dict[str, str]:
        """:returns: ``{doc_id: content_hash}`` of every ingested source document."""
        iterator = self._client.query_iterator(
            self.collection + _SOURCES,
            batch_size=5000,
            filter='doc_id != ""',
            output_fields=["doc_id", "content_hash"],
        )
        hashes: dict[str, str] = {}
        try:
            while batch := iterator.next():
                hashes.update((r["doc_id"], r["content_hash"]) for r in batch)
        finally:
            iterator.close()
        return hashes

    # ------------------------------------------------------------------ search
    def _restriction(
        self,
        filters: dict[str, Any] | None,
        time_window: Interval | None,
        before: date | None,
        after: date | None,
        vectors_only: bool,
    ) -> tuple[Expression, bool] | None:
        """The expression of a search's restrictions, and whether overflow passages need a check;
        ``None`` when nothing can match."""
        expression = Expression()
        if vectors_only:
            expression.add("has_vector == true")
        add_publication_bounds(expression, before, after)
        overflow = time_window is not None and self._count("span_overflow == true") > 0
        if time_window is not None:
            add_time_window(expression, time_window, overflow)
        if filters:
            validate_filters(filters)
            if not translate_filters(filters, expression):
                allowed = [
                    d.id for d in self._documents(expression, False) if document_matches_filter(filters, d)
                ]
                if not allowed:
                    return None
                expression.add("id in {allowed}", allowed=allowed)
        return expression, overflow

    def search(
        self,
        query_embedding: Sequence[float] | np.ndarray,
        top_k: int = 10,
        filters: dict[str, Any] | None = None,
        time_window: Interval | None = None,
        published_on_or_before: date | None = None,
        published_on_or_after: date | None = None,
        return_embedding: bool = False,
    ) -> list[Document]:
        """
        The ``top_k`` passages closest to the query (cosine) among those the restrictions allow; the
        restrictions run inside Milvus before the vector search.

        :param query_embedding: the query vector.
        :param top_k: how many passages (at most 16,384, Milvus's limit).
        :param filters: Haystack filters.
        :param time_window: keep passages mentioning a span that overlaps it.
        :param published_on_or_before: drop passages published after this day (undated ones pass).
        :param published_on_or_after: drop passages published before this day (undated ones pass).
        :param return_embedding: include the stored embeddings.
        :returns: documents with ``score`` = cosine similarity, best first.
        """
        query = normalise(np.asarray(query_embedding, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.dim:
            raise EmbeddingDimensionError(
                f"query has {query.shape[1]} dimensions; the store holds {self.dim}-d vectors"
            )
        restriction = self._restriction(
            filters, time_window, published_on_or_before, published_on_or_after, True
        )
        if top_k <= 0 or restriction is None:
            return []
        expression, overflow = restriction
        params = {"metric_type": "COSINE", "params": self._search_params()}
        hits = self._hits(query[0].tolist(), "vector", params, top_k, expression, overflow, ["vector"])
        if not hits:
            return []
        vectors = normalise(np.asarray([h["entity"]["vector"] for h in hits], dtype=np.float32))
        scores = vectors @ query[0]  # exact cosine, whatever the index computed
        order = np.argsort(-scores, kind="stable")
        documents = [self._document(hits[i]["entity"], return_embedding, float(scores[i])) for i in order]
        return self._keep_overlapping(documents, time_window, overflow, hits, order)[:top_k]

    def bm25_search(
        self,
        query: str,
        top_k: int = 10,
        filters: dict[str, Any] | None = None,
        time_window: Interval | None = None,
        published_on_or_before: date | None = None,
        published_on_or_after: date | None = None,
        return_embedding: bool = False,
    ) -> list[Document]:
        """
        BM25 search over ``passage_text`` by Milvus's BM25 function, restricted as :meth:`search`.

        :param query: the query text.
        :param top_k: how many passages.
        :param filters: Haystack filters.
        :param time_window: keep passages mentioning a span that overlaps it.
        :param published_on_or_before: drop passages published after this day (undated ones pass).
        :param published_on_or_after: drop passages published before this day (undated ones pass).
        :param return_embedding: include the stored embeddings (``None`` for passages without one).
        :returns: documents with ``score`` = BM25 score, best first.
        """
        restriction = self._restriction(
            filters, time_window, published_on_or_before, published_on_or_after, False
        )
        if top_k <= 0 or restriction is None or not query.strip():
            return []
        expression, overflow = restriction
        fields = ["vector"] if return_embedding else []
        hits = self._hits(query, "sparse", {"metric_type": "BM25"}, top_k, expression, overflow, fields)
        # BM25 scores are positive; Milvus Lite reports them negated (its distances sort ascending).
        scores = np.asarray([abs(float(h["distance"])) for h in hits], dtype=np.float64)
        order = np.argsort(-scores, kind="stable")
        documents = [self._document(hits[i]["entity"], return_embedding, float(scores[i])) for i in order]
        return self._keep_overlapping(documents, time_window, overflow, hits, order)[:top_k]

    def _hits(
        self,
        data: Any,
        field: str,
        params: dict[str, Any],
        top_k: int,
        expression: Expression,
        overflow: bool,
        extra_fields: list[str],
    ) -> list[dict]:
        # Overflow passages are let through for a Python check: fetch enough to still fill top_k.
        slack = self._count("span_overflow == true") if overflow else 0
        result = self._call(
            "searching",
            self._client.search,
            self.collection,
            data=[data],
            anns_field=field,
            limit=min(top_k + slack, MAX_TOP_K),
            filter=expression.text,
            output_fields=_ROW_FIELDS + extra_fields,
            search_params=params,
        )
        return list(result[0]) if result else []

    @staticmethod
    def _keep_overlapping(
        documents: list[Document],
        window: Interval | None,
        overflow: bool,
        hits: list[dict],
        order: np.ndarray,
    ) -> list[Document]:
        if not overflow or window is None:
            return documents
        kept = []
        for document, i in zip(documents, order, strict=True):
            if hits[i]["entity"].get("span_overflow"):
                spans = [
                    _span_days(s)
                    for s in (document.meta or {}).get("time_spans") or []
                    if isinstance(s, dict)
                ]
                if not any(s and s[0] <= window.end_day and s[1] >= window.start_day for s in spans):
                    continue
            kept.append(document)
        return kept

    def _search_params(self) -> dict[str, Any]:
        return self.search_params or _DEFAULT_SEARCH_PARAMS.get(self.milvus_index_type, {})

    # ------------------------------------------------------------------ ExtendedStoreMixin hooks
    def _iter_matching(
        self, filters: dict[str, Any] | None, with_vectors: bool = False
    ) -> Iterator[Document]:
        expression = Expression()
        if filters:
            translate_filters(filters, expression)
        for document in self._documents(expression, with_embedding=with_vectors):
            if not filters or document_matches_filter(filters, document):
                yield document

    def _field_values(self, key: str) -> list[Any]:
        return [d.meta[key] for d in self._iter_matching(None) if d.meta.get(key) is not None]

    def get_metadata_fields_info(self) -> dict[str, dict[str, str]]:
        """
        :returns: ``{field: {"type": ...}}`` of the stored meta (the type of each field's latest value).
        """
        return self._fields_info_from_documents()

    # ------------------------------------------------------------------ maintenance
    def flush(self) -> None:
        """Make Milvus persist every acknowledged write into its segments (beyond its write-ahead log)."""
        if self.read_only:
            return
        for name in (self.collection, self.collection + _SOURCES, self.collection + _INFO):
            self._call("flushing", self._client.flush, name)

    def close(self) -> None:
        """Flush and let go of the connection (idempotent)."""
        with self._lock:
            if self._client is None:
                return
            self.flush()
            self._client = None

    def check(self) -> list[str]:
        """
        :returns: the inconsistencies found: a source document whose recorded passage count differs from
            its stored passages (an interrupted write: re-run the ingestion), a vector field of another
            dimension.
        """
        problems = []
        if self._vector_dim() != self.dim:
            problems.append(f"the vector field is {self._vector_dim()}-d, {self.dim}-d are recorded")
        counts: dict[str, int] = {}
        for row in self._query_rows(Expression(), ["seq", "doc_id"]):
            counts[row["doc_id"]] = counts.get(row["doc_id"], 0) + 1
        iterator = self._client.query_iterator(
            self.collection + _SOURCES,
            batch_size=5000,
            filter='doc_id != ""',
            output_fields=["doc_id", "passages"],
        )
        try:
            while batch := iterator.next():
                for row in batch:
                    stored = counts.get(row["doc_id"], 0)
                    if stored != int(row["passages"]):
                        problems.append(
                            f"document {row['doc_id']!r} has {stored} passages stored, "
                            f"{row['passages']} recorded "
                            "(an interrupted write: run the ingestion again)"
                        )
        finally:
            iterator.close()
        return problems

    def stats(self) -> dict[str, Any]:
        """
        :returns: documents, passages, vectors, model, dimension, index type, device, date range, generation.
        """
        rows = self._query_rows(Expression(), ["seq", "id", "doc_id", "pub_day", "has_vector", "span_count"])
        days = [r["pub_day"] for r in rows if r["pub_day"]]
        return {
            "path": self.path,
            "backend": "milvus-lite" if self.lite else "milvus",
            "documents": len({r["doc_id"] or r["id"] for r in rows}),
            "passages": len(rows),
            "vectors": sum(1 for r in rows if r["has_vector"]),
            "dated_passages": len(days),
            "time_spans": sum(int(r["span_count"]) for r in rows),
            "embedding_model": self.model_id,
            "embedding_dim": self.dim,
            "index_type": self.milvus_index_type,
            "configured_index_type": self.index_type or self.milvus_index_type,
            "device": self.device,
            "date_min": date.fromordinal(min(days)).isoformat() if days else None,
            "date_max": date.fromordinal(max(days)).isoformat() if days else None,
            "generation": self.generation,
            "size_bytes": _folder_bytes(Path(self._client_uri)) if self.lite else None,
        }

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _datatype() -> Any:
    from pymilvus import DataType

    return DataType


def _placeholder(dim: int) -> list[float]:
    """The vector of a passage without one (never searched: searches require ``has_vector``)."""
    return [1.0] + [0.0] * (dim - 1)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
