"""kill -9 in the middle of writes and of an ingestion: the store reopens consistent and loses nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chronorag.indexers import ChronoDocumentStore
from chronorag.indexers.store import SQLITE_FILE

BATCH = 50
DIM = 1024  # large enough that the index outgrows "save after every write" and saves on a timer

_WRITER = """
import sys
import numpy as np
from haystack import Document
from chronorag.indexers import ChronoDocumentStore

store = ChronoDocumentStore(sys.argv[1], embedding_dim=__DIM__, save_every_s=0.3)
for batch in range(100_000):
    rng = np.random.default_rng(batch)
    docs = [
        Document(
            id=f"b{batch}_{i}",
            content=f"batch {batch} passage {i}",
            meta={"date": f"{1990 + batch % 30}-01-01", "doc_id": f"b{batch}",
                  "time_spans": [{"start": "1995-01-01", "end": "1996-12-31"}]},
            embedding=rng.standard_normal(__DIM__).astype(np.float32).tolist(),
        )
        for i in range(__BATCH__)
    ]
    store.write_documents(docs)
    print(batch, flush=True)  # printed only after write_documents returned
""".replace("__DIM__", str(DIM)).replace("__BATCH__", str(BATCH))

_INGESTER = """
import sys
from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

embed, model_id, dim = sentence_transformer_embedder(device="cpu", batch_size=16)
store = open_store_for(sys.argv[1], model_id, dim)
print("ready", flush=True)
ingest([sys.argv[2]], store, embed, batch_passages=8, progress=False,
       on_batch=lambda report: print(report.documents_written, flush=True))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _run_until(script: str, args: list[str], lines_wanted: int, extra_delay: float) -> list[str]:
    """Start a child, read its stdout until ``lines_wanted`` lines, wait a little more, then kill -9."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(),
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while len(lines) < lines_wanted and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        time.sleep(extra_delay)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    # Lines printed after our last read were also written before the kill: read what is left.
    lines.extend(line.strip() for line in child.stdout.read().splitlines() if line.strip())
    assert len(lines) >= lines_wanted, "the child did not get far enough before the deadline"
    return lines


@pytest.mark.parametrize("lines_wanted,extra_delay", [(3, 0.0), (44, 0.37)])
def test_kill_during_writes_loses_nothing(tmp_path, lines_wanted, extra_delay):
    path = str(tmp_path / "store")
    lines = _run_until(_WRITER, [path], lines_wanted, extra_delay)
    last_batch = int(lines[-1])
    store = ChronoDocumentStore(path)
    assert store.check() == []
    count = store.count_documents()
    assert count % BATCH == 0, "a batch was half written"
    assert count >= (last_batch + 1) * BATCH, "a batch whose write returned is missing"
    for batch in (0, last_batch):
        vector = np.random.default_rng(batch).standard_normal(DIM)
        assert store.search(vector, 1)[0].id == f"b{batch}_0"
    store.close()


@pytest.mark.slow
def test_kill_during_ingest_then_resume(tmp_path, embedder):
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    corpus = tmp_path / "corpus.jsonl"
    with corpus.open("w") as handle:
        for i in range(40):
            text = f"Report {i}. In {1990 + i} the council of town {i} approved a new bridge. " * 4
            handle.write(
                json.dumps({"id": f"doc{i}", "title": f"Town {i}", "text": text, "date": "2001-01-01"}) + "\n"
            )
    path = str(tmp_path / "store")
    lines = _run_until(_INGESTER, [path, str(corpus)], lines_wanted=3, extra_delay=0.1)
    written = int(lines[-1])
    assert written > 0
    store = ChronoDocumentStore(path)
    assert store.check() == []
    with sqlite3.connect(Path(path) / SQLITE_FILE) as conn:
        per_doc = dict(conn.execute("SELECT doc_id, count(*) FROM passages GROUP BY doc_id"))
        recorded = dict(conn.execute("SELECT doc_id, passages FROM sources"))
    assert per_doc == recorded, "a document is partly written or its record is missing"
    assert len(recorded) >= written
    store.close()

    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    store = open_store_for(path, model_id, dim)
    report = ingest([str(corpus)], store, embed, progress=False)
    assert report.documents_unchanged == len(recorded)
    assert report.documents_written == 40 - len(recorded)
    assert len(store.source_hashes()) == 40
    assert store.check() == []
    store.close()
