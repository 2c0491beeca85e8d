"""Ingestion on Ray Data: read, split and date on CPU actors, embed on model actors, write from the driver.

The stages are the local path's own functions (``ingest.py``): ``read_source`` on Ray tasks (one per
input), ``prepare_document`` (``build_passages`` + ``date_passages``, skipping documents whose content
hash is stored) on a pool of CPU actors, ``embed_passages`` on a pool of model actors (one GPU each where
the cluster has GPUs, else CPU), and ``write_pending`` in the driver, which reads the stream in input
order and writes whole documents with their source records, ``batch_passages`` at a time, exactly as
``ingest()`` does. So the same input gives the same passages, dates and (up to the embedding backend's
floating point) vectors, and the same report.

Writes happen in the driver because a Milvus Lite file is served to one process; with a Milvus server
the driver only forwards rows. A failure in a worker (a stage raising, an actor dying beyond Ray's
retries) stops the run with :class:`RayIngestError`: every document written before it is durable with
its source record, and a re-run skips those and completes the rest.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chronorag.indexers.backend import ChronoStore
from chronorag.indexers.ingest import (
    SKIP,
    STOP,
    EmbedFn,
    IngestReport,
    Pending,
    embed_passages,
    prepare_document,
    screen_item,
    write_pending,
)
from chronorag.indexers.sources import RejectedRecord, read_source

# An embedder factory: called once per model actor, it returns ``ingestion_embedder``'s tuple
# ``(embed, model_id, dimension, description)``.
EmbedderFactory = Callable[[], tuple[EmbedFn, str, int, str]]
_BLOCK_BYTES = 64 << 10  # a few TimeQA pages, a few dozen news articles


class RayIngestError(RuntimeError):
    """A Ray worker failed; what was written before is stored, and a re-run continues from there."""


@dataclass(frozen=True)
class EmbedderSpec:
    """How model actors build their embedder: the arguments of ``ingestion_embedder`` (picklable)."""

    backend: str = "auto"
    quantize: str = "auto"
    device: str | None = None
    max_seq_length: int | None = None
    model_name: str | None = None

    def __call__(self) -> tuple[EmbedFn, str, int, str]:
        """:returns: ``ingestion_embedder(...)`` of these arguments."""
        from chronorag.indexers.onnx_embedder import ingestion_embedder

        return ingestion_embedder(
            self.backend, self.quantize, self.device, self.max_seq_length, self.model_name
        )


# ---------------------------------------------------------------------- the stages (run in Ray workers)
def _read(row: dict[str, Any], fmt: str, limit: int | None) -> list[dict[str, Any]]:
    """One input -> one row per record read (pickled ``SourceDocument`` or ``RejectedRecord``); no input
    contributes more than ``limit`` documents (the driver applies the exact limit over all inputs)."""
    path = row["path"]
    rows: list[dict[str, Any]] = []
    documents = 0
    try:
        for item in read_source(path, fmt):
            if not isinstance(item, RejectedRecord):
                if limit is not None and documents >= limit:
                    break
                documents += 1
            rows.append({"item": pickle.dumps(item)})
    except (OSError, ValueError) as exc:
        rows.append({"item": pickle.dumps(RejectedRecord(str(path), f"cannot read input ({exc})"))})
    return rows


class _Prepare:
    """CPU actor: split and date each document (``prepare_document``) unless its hash is stored."""

    def __init__(self, stored: dict[str, str], target_words: int, max_words: int) -> None:
        self._stored = stored
        self._target_words = target_words
        self._max_words = max_words

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"item": [], "outcome": []}
        for blob in batch["item"]:
            item = pickle.loads(blob)
            outcome: Any = None
            if not isinstance(item, RejectedRecord):
                report = IngestReport()
                prepared = prepare_document(item, self._stored, report, self._target_words, self._max_words)
                outcome = prepared or (report.rejected[0] if report.rejected else "unchanged")
            out["item"].append(blob)
            out["outcome"].append(pickle.dumps(outcome))
        return out


class _Embed:
    """Model actor: embed the passages of each prepared document in the batch (one model call)."""

    def __init__(self, factory: EmbedderFactory | None, threads: int) -> None:
        from chronorag.models import configure_threads

        # Ray sets OMP_NUM_THREADS to the actor's CPU share; the embedding backends read torch's count.
        configure_threads(threads)
        self._factory = factory
        self._embed: EmbedFn | None = None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        outcomes = [pickle.loads(blob) for blob in batch["outcome"]]
        prepared = [o for o in outcomes if isinstance(o, Pending)]
        # b"": no vectors (a column of only None would not survive Arrow as bytes)
        vectors: list[bytes] = [b""] * len(outcomes)
        if self._factory is not None and prepared:
            if self._embed is None:  # loaded on the first batch with work: a re-run may have none
                self._embed = self._factory()[0]
            started = time.perf_counter()
            matrix = embed_passages([p for entry in prepared for p in entry.passages], self._embed)
            seconds = (time.perf_counter() - started) / len(prepared)
            start = 0
            positions = iter(i for i, o in enumerate(outcomes) if isinstance(o, Pending))
            for entry in prepared:
                count = len(entry.passages)
                vectors[next(positions)] = pickle.dumps((matrix[start : start + count], seconds))
                start += count
        return {"item": list(batch["item"]), "outcome": list(batch["outcome"]), "vectors": vectors}


# ---------------------------------------------------------------------- the driver
def ray_ingest(
    inputs: Sequence[str],
    store: ChronoStore,
    embedder: EmbedderFactory | None,
    fmt: str = "auto",
    batch_passages: int = 256,
    target_words: int = 100,
    max_words: int = 200,
    limit: int | None = None,
    progress: bool = True,
    address: str | None = None,
    num_cpus: int | None = None,
    embed_actors: int | None = None,
    prepare_actors: int = 1,
    docs_per_batch: int = 8,
    on_batch: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """
    Index every input into ``store`` with Ray Data (see the module's documentation).

    :param inputs: files or folders.
    :param store: the open store (written from this process).
    :param embedder: builds the embedder in each model actor (an :class:`EmbedderSpec`, or any picklable
        factory); ``None`` stores passages without vectors.
    :param fmt: input format, ``"auto"`` to guess per input.
    :param batch_passages: passages per ``write_batch`` (whole documents per batch).
    :param target_words: passage size.
    :param max_words: the longest passage.
    :param limit: stop after this many documents.
    :param progress: show a progress bar with passages/s on stderr.
    :param address: a Ray cluster's address (``ray://host:10001`` or ``auto``); ``None`` starts Ray
        locally (or uses the Ray already started in this process).
    :param num_cpus: CPUs of a local Ray (``None``: the machine's).
    :param embed_actors: model actors (``None``: one per GPU, else one).
    :param prepare_actors: CPU actors splitting and dating.
    :param docs_per_batch: documents per Ray batch between the stages.
    :param on_batch: called after each committed write with the report so far.
    :returns: the report, as ``ingest()``'s.
    :raises RayIngestError: when a worker fails; documents written before are kept (re-run to continue).
    """
    from tqdm import tqdm

    ray = _start_ray(address, num_cpus)
    report = IngestReport()
    started = time.perf_counter()
    bar = tqdm(unit=" passages", disable=not progress, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    try:
        dataset = _pipeline(
            ray, inputs, store.source_hashes(), embedder, fmt, limit, target_words, max_words,
            embed_actors, prepare_actors, docs_per_batch,
        )  # fmt: skip
        _drive(dataset, store, report, bar, batch_passages, limit, on_batch)
        store.flush()
    finally:
        bar.close()
        report.seconds = time.perf_counter() - started
    return report


def _start_ray(address: str | None, num_cpus: int | None) -> Any:
    import ray

    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        options: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "configure_logging": False,
            # Workers import chronorag like this process does (same interpreter, same environment).
            "runtime_env": {
                "env_vars": {
                    k: v for k, v in os.environ.items() if k.startswith(("CHRONORAG_", "OMP_", "HF_"))
                }
            },
        }
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(num_cpus=num_cpus, **options)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    # Small blocks, so documents stream through the actors to the driver as they are embedded rather
    # than as one block per input file (which would hold every write back until the file is done).
    context.target_max_block_size = _BLOCK_BYTES
    return ray


def _pipeline(
    ray: Any,
    inputs: Sequence[str],
    stored: dict[str, str],
    embedder: EmbedderFactory | None,
    fmt: str,
    limit: int | None,
    target_words: int,
    max_words: int,
    embed_actors: int | None,
    prepare_actors: int,
    docs_per_batch: int,
) -> Any:
    gpus = int(ray.cluster_resources().get("GPU", 0))
    use_gpu = gpus > 0 and getattr(embedder, "device", None) != "cpu"
    actors = embed_actors or (gpus if use_gpu else 1)
    # As many threads as the local path's embedder takes (CHRONORAG_NUM_THREADS, else every core of a node
    # shared among the actors on it): the stages before it are light, and Ray's CPU share is no thread cap.
    alive = [n for n in ray.nodes() if n.get("Alive")] or [{"Resources": {"CPU": 1}}]
    per_node = max(int(n.get("Resources", {}).get("CPU", 1)) for n in alive)
    actors_per_node = -(-actors // len(alive))
    threads = int(os.environ.get("CHRONORAG_NUM_THREADS") or 0) or max(1, per_node // actors_per_node)
    dataset = ray.data.from_items([{"path": str(p)} for p in inputs])
    dataset = dataset.flat_map(_read, fn_kwargs={"fmt": fmt, "limit": limit}, num_cpus=0.25)
    dataset = dataset.map_batches(
        _Prepare,
        fn_constructor_kwargs={"stored": stored, "target_words": target_words, "max_words": max_words},
        batch_size=docs_per_batch,
        compute=ray.data.ActorPoolStrategy(size=prepare_actors),
        num_cpus=0.5,
    )
    return dataset.map_batches(
        _Embed,
        fn_constructor_kwargs={"factory": embedder, "threads": threads},
        batch_size=docs_per_batch,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=0 if use_gpu else 1,
        num_gpus=1 if use_gpu else 0,
    )


def _drive(
    dataset: Any,
    store: ChronoStore,
    report: IngestReport,
    bar: Any,
    batch_passages: int,
    limit: int | None,
    on_batch: Callable[[IngestReport], None] | None,
) -> None:
    """Read the stream in input order and write it as ``ingest()`` does (duplicates, limit, batches)."""
    seen_ids: dict[str, str] = {}
    pending: list[Pending] = []
    vectors: list[np.ndarray] = []
    pending_passages = 0

    def flush() -> None:
        nonlocal pending, vectors, pending_passages
        matrix = np.concatenate(vectors) if vectors and len(vectors) == len(pending) else None
        write_pending(pending, matrix, store, report, bar)
        if on_batch is not None:
            on_batch(report)
        pending, vectors, pending_passages = [], [], 0

    for item, outcome, embedded in _rows(dataset, report):
        verdict = screen_item(item, report, seen_ids, limit)
        if verdict == STOP:
            break
        if verdict == SKIP:
            continue
        if outcome == "unchanged":
            report.documents_unchanged += 1
            continue
        if isinstance(outcome, RejectedRecord):
            report.rejected.append(outcome)
            continue
        pending.append(outcome)
        pending_passages += len(outcome.passages)
        if embedded is not None:
            matrix, seconds = embedded
            vectors.append(matrix)
            report.embed_seconds += seconds
        if pending_passages >= batch_passages:
            flush()
    if pending:
        flush()


def _rows(dataset: Any, report: IngestReport) -> Iterator[tuple[Any, Any, Any]]:
    """The stream's rows, unpickled; a worker's failure becomes :class:`RayIngestError`."""
    batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as exc:  # Ray wraps a worker's error in its own exception types
            raise RayIngestError(
                f"a Ray worker failed ({type(exc).__name__}: {_first_line(exc)}); {report.documents_written} "
                f"documents ({report.passages_written} passages) were written before it and are stored; "
                "run the same command again to index the rest"
            ) from exc
        for item, outcome, embedded in zip(batch["item"], batch["outcome"], batch["vectors"], strict=True):
            yield (
                pickle.loads(item),
                pickle.loads(outcome),
                pickle.loads(embedded) if len(embedded) else None,
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    # Ray's messages start with the failed operator; the worker's own error is the last line.
    return lines[-1][:300] if lines else type(exc).__name__
