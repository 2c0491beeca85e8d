"""``chronorag store check`` tells a pending index save from damage; ``store recover`` salvages a damaged
store.sqlite (truncated, or with a page overwritten) into a new store; ``store rebuild`` repairs the index.

Real files throughout: a store written by ``ChronoDocumentStore``, cut or overwritten on disk, a writer in
another process, the real Typer app. What SQLite itself can still read from a cut file is the yardstick
for what the salvage must save.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from haystack import Document

from chronorag.indexers import ChronoDocumentStore, StoreError
from chronorag.indexers.local_store.lock import writers_present
from chronorag.indexers.local_store.recovery import RECOVERY_FOLDER, recover_store
from chronorag.indexers.store import FAISS_FILE, SQLITE_FILE
from chronorag.temporal.model import Interval

DIM = 384
PASSAGES = 240
LONG_EVERY = 17  # every 17th passage is long enough to spill into overflow pages


def _documents() -> list[Document]:
    rng = np.random.default_rng(7)
    docs = []
    for i in range(PASSAGES):
        year = 1950 + i % 60
        words = " ".join(f"w{i * j % 97}" for j in range(1500 if i % LONG_EVERY == 0 else 40))
        docs.append(
            Document(
                id=f"p{i}",
                content=f"passage {i} about the year {year} {words}",
                meta={
                    "title": f"Title {i // 4}",
                    "doc_id": f"doc{i // 4}",
                    "date": (date(1990, 1, 1) + timedelta(days=i * 11)).isoformat(),
                    "time_spans": [
                        {
                            "text": str(year),
                            "char_start": 0,
                            "char_end": 4,
                            "start": f"{year}-01-01",
                            "end": f"{year}-12-31",
                            "granularity": "year",
                        }
                    ],
                },  # fmt: skip
                embedding=rng.standard_normal(DIM).astype(np.float32).tolist(),
            )
        )
    return docs


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> Path:
    """A closed, healthy store of ``PASSAGES`` passages written in several batches (generation > 1)."""
    path = tmp_path_factory.mktemp("recover") / "store"
    docs = _documents()
    with ChronoDocumentStore(str(path), embedding_dim=DIM) as store:
        for start in range(0, PASSAGES, 60):
            store.write_documents(docs[start : start + 60])
    return path


def _copy(healthy: Path, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(healthy, target)
    return target


def _rows_sqlite_reads(sqlite_path: Path, scratch: Path) -> set[str]:
    """The passage ids SQLite itself still reads from a cut file, one rowid at a time. A cut file keeps
    its old page count in the header, which makes SQLite refuse it whole; a copy says how many pages are
    really there (the yardstick only: the salvage reads the file as it is)."""
    raw = bytearray(sqlite_path.read_bytes())
    pages = len(raw) // 4096
    del raw[pages * 4096 :]
    raw[28:32] = struct.pack(">I", pages)
    copy = scratch / "yardstick.sqlite"
    copy.write_bytes(bytes(raw))
    conn = sqlite3.connect(copy)
    found = set()
    for rowid in range(1, PASSAGES + 1):
        try:
            sql = "SELECT id, length(data), length(vector) FROM passages WHERE rowid = ?"
            hit = conn.execute(sql, (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            continue
        if hit is not None:
            found.add(hit[0])
    conn.close()
    return found


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("keep", [0.3, 0.65, 0.95])
def test_truncated_database_check_advises_recover_which_salvages(app, runner, healthy, tmp_path, keep):
    store = _copy(healthy, tmp_path)
    sqlite_path = store / SQLITE_FILE
    raw = sqlite_path.read_bytes()
    sqlite_path.write_bytes(raw[: int(len(raw) * keep)])
    cut_digest, index_digest = _digest(sqlite_path), _digest(store / FAISS_FILE)
    readable = _rows_sqlite_reads(sqlite_path, tmp_path)
    assert 0 < len(readable) < PASSAGES

    check = runner.invoke(app, ["store", "check", str(store)])
    assert check.exit_code == 1
    assert "problem:" in check.output and SQLITE_FILE in check.output
    assert f"repair with: chronorag store recover {store}" in check.output

    # rebuild cannot read the vectors from a damaged database: it says so, names recover, touches nothing
    rebuild = runner.invoke(app, ["store", "rebuild", str(store)])
    assert rebuild.exit_code == 1 and f"chronorag store recover {store}" in rebuild.output
    assert _digest(store / FAISS_FILE) == index_digest and not (store / (FAISS_FILE + ".old")).exists()

    recover = runner.invoke(app, ["store", "recover", str(store), "--json", "--no-progress"])
    assert recover.exit_code == 0, recover.output
    report = json.loads(recover.stdout)
    # everything SQLite can still read is saved, and the old index accounts for every passage
    assert report["passages_saved"] >= len(readable)
    assert report["passages_saved"] + report["passages_lost"] == PASSAGES
    assert report["vectors"] == report["passages_saved"] and report["pages_missing"] > 0

    # the damaged files are kept, byte for byte
    aside = store / report["aside"]
    assert _digest(aside / SQLITE_FILE) == cut_digest and _digest(aside / FAISS_FILE) == index_digest
    assert not (store / RECOVERY_FOLDER).exists()

    assert runner.invoke(app, ["store", "check", str(store)]).exit_code == 0
    originals = {d.id: d for d in _documents()}
    with ChronoDocumentStore(str(store)) as recovered:
        saved = recovered.filter_documents()
        assert len(saved) == report["passages_saved"] and readable <= {d.id for d in saved}
        for document in saved:  # salvaged exactly: text, meta, vector
            original = originals[document.id]
            assert document.content == original.content and document.meta == original.meta
            assert np.array_equal(np.asarray(document.embedding), np.asarray(original.embedding))
        probe = saved[len(saved) // 2]
        assert recovered.search(probe.embedding, top_k=1)[0].id == probe.id
        year = int(probe.meta["time_spans"][0]["start"][:4])
        windowed = recovered.search(probe.embedding, top_k=3, time_window=Interval.years(year, year))
        assert windowed[0].id == probe.id
        assert recovered.bm25_search(probe.content[:60], top_k=1)[0].id == probe.id
        written = Document(id="new", content="written after recovery", embedding=[0.1] * DIM)
        recovered.write_documents([written])
        assert recovered.generation > report["generation"]


def test_overwritten_root_page_orphaned_leaves_are_salvaged(app, runner, healthy, tmp_path):
    store = _copy(healthy, tmp_path)
    conn = sqlite3.connect(store / SQLITE_FILE)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'passages'").fetchone()[0]
    conn.close()
    raw = bytearray((store / SQLITE_FILE).read_bytes())
    raw[(root - 1) * 4096 : root * 4096] = b"\xa5" * 4096  # the table's root page: every leaf is orphaned
    (store / SQLITE_FILE).write_bytes(bytes(raw))

    check = runner.invoke(app, ["store", "check", str(store)])
    assert check.exit_code == 1 and f"chronorag store recover {store}" in check.output
    report = recover_store(str(store))
    assert report.passages_saved == PASSAGES and report.passages_lost == 0
    with ChronoDocumentStore(str(store), read_only=True) as recovered:
        assert recovered.check() == [] and recovered.count_documents() == PASSAGES


def test_cut_inside_the_first_page_leaves_the_folder_as_it_was(app, runner, healthy, tmp_path):
    store = _copy(healthy, tmp_path)
    (store / SQLITE_FILE).write_bytes((healthy / SQLITE_FILE).read_bytes()[:50])
    index_digest = _digest(store / FAISS_FILE)
    check = runner.invoke(app, ["store", "check", str(store)])
    assert check.exit_code == 1 and "chronorag store recover" in check.output
    recover = runner.invoke(app, ["store", "recover", str(store), "--no-progress"])
    assert recover.exit_code == 1 and "no passage could be salvaged" in recover.output
    assert (store / SQLITE_FILE).read_bytes() == (healthy / SQLITE_FILE).read_bytes()[:50]
    assert _digest(store / FAISS_FILE) == index_digest
    assert not [name for name in os.listdir(store) if name.startswith(("damaged-", RECOVERY_FOLDER))]


def test_recover_refuses_a_sound_database(runner, app, healthy, tmp_path):
    store = _copy(healthy, tmp_path)
    recover = runner.invoke(app, ["store", "recover", str(store), "--no-progress"])
    assert recover.exit_code == 1 and "nothing to recover" in recover.output


def test_interrupted_recovery_blocks_opening_until_run_again(healthy, tmp_path, monkeypatch):
    from chronorag.indexers.local_store import recovery

    store = _copy(healthy, tmp_path)
    raw = (store / SQLITE_FILE).read_bytes()
    (store / SQLITE_FILE).write_bytes(raw[: len(raw) // 2])

    def stop_before_swapping(folder: Path, aside: str) -> None:
        raise KeyboardInterrupt  # the process stops once the new store is complete, before any rename

    monkeypatch.setattr(recovery, "_swap", stop_before_swapping)
    with pytest.raises(KeyboardInterrupt):
        recover_store(str(store))
    monkeypatch.undo()
    with pytest.raises(StoreError, match="interrupted"):
        ChronoDocumentStore(str(store), read_only=True)
    report = recover_store(str(store))  # finishes the swap from the plan; no second salvage
    assert 0 < report.passages_saved < PASSAGES
    with ChronoDocumentStore(str(store)) as recovered:
        assert recovered.count_documents() == report.passages_saved and recovered.check() == []


def test_corrupt_index_checksum_then_rebuild(app, runner, healthy, tmp_path):
    store = _copy(healthy, tmp_path)
    faiss_path = store / FAISS_FILE
    raw = bytearray(faiss_path.read_bytes())
    raw[len(raw) // 3] ^= 0x10
    faiss_path.write_bytes(bytes(raw))
    check = runner.invoke(app, ["store", "check", str(store)])
    assert check.exit_code == 1 and "fails its checksum" in check.output
    assert f"repair with: chronorag store rebuild {store}" in check.output
    rebuilt = runner.invoke(app, ["store", "rebuild", str(store)])
    assert rebuilt.exit_code == 0, rebuilt.output
    ok = runner.invoke(app, ["store", "check", str(store)])
    assert ok.exit_code == 0 and f"ok: {PASSAGES} passages" in ok.output and "note:" not in ok.output


_WRITER = """
import sys
import numpy as np
from haystack import Document
from chronorag.indexers import ChronoDocumentStore

# 1,024-d: past 2,048 vectors the index outgrows "save after every write" and saves on the timer.
store = ChronoDocumentStore(sys.argv[1], embedding_dim=1024, save_every_s=3600)
rng = np.random.default_rng(0)
for batch, count in enumerate((1000, 1100)):
    store.write_documents([
        Document(id=f"b{batch}_{i}", content=f"batch {batch} passage {i}",
                 embedding=rng.standard_normal(1024).astype(np.float32).tolist())
        for i in range(count)
    ])
print("ready", flush=True)
sys.stdin.read()
"""


def test_pending_index_save_is_a_note_not_damage(app, runner, tmp_path):
    store = tmp_path / "live"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(store)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
    )
    try:
        assert writer.stdout.readline().strip() == b"ready"
        assert writers_present(store)
        live = runner.invoke(app, ["store", "check", str(store)])
        assert live.exit_code == 0, live.output
        assert "index save pending: generation 1 on disk, 2 in SQLite" in live.output
        assert "ok: 2100 passages" in live.output and "problem" not in live.output
        # recovering under a live writer would lose what it writes next: refused
        refused = runner.invoke(app, ["store", "recover", str(store), "--no-progress"])
        assert refused.exit_code == 1 and "open for writing" in refused.output
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert not writers_present(store)  # the kernel dropped the dead writer's lock
    dead = runner.invoke(app, ["store", "check", str(store)])
    assert dead.exit_code == 0, dead.output
    assert "no process has the store open for writing" in dead.output
    assert f"chronorag store rebuild {store}" in dead.output
    assert runner.invoke(app, ["store", "rebuild", str(store)]).exit_code == 0
    saved = runner.invoke(app, ["store", "check", str(store)])
    assert saved.exit_code == 0 and "note:" not in saved.output and "generation 2" in saved.output


def test_rows_only_in_the_wal_are_salvaged(healthy, tmp_path):
    """A crash image: the database with the ``-wal`` its writer had not checkpointed yet, then cut."""
    live = _copy(healthy, tmp_path)
    rng = np.random.default_rng(3)
    late = [
        Document(id=f"late{i}", content="late " * 900 + str(i), meta={"doc_id": "late"},
                 embedding=rng.standard_normal(DIM).astype(np.float32).tolist())
        for i in range(5)
    ]  # fmt: skip
    image = tmp_path / "image"
    image.mkdir()
    with ChronoDocumentStore(str(live)) as writer:
        writer.write_documents(late)
        for name in (SQLITE_FILE, f"{SQLITE_FILE}-wal", FAISS_FILE):
            shutil.copy(live / name, image / name)
    assert (image / f"{SQLITE_FILE}-wal").stat().st_size > 0
    raw = (image / SQLITE_FILE).read_bytes()
    (image / SQLITE_FILE).write_bytes(raw[: len(raw) // 2])

    report = recover_store(str(image))
    assert PASSAGES // 4 < report.passages_saved < PASSAGES
    with ChronoDocumentStore(str(image), read_only=True) as recovered:
        found = recovered.get_documents_by_id([d.id for d in late], return_embedding=True)
        assert [d.content for d in found] == [d.content for d in late]
        assert recovered.search(late[2].embedding, top_k=1)[0].id == "late2"


def test_ingested_documents_cut_short_are_restored_by_indexing_again(tmp_path):
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    corpus = tmp_path / "corpus.jsonl"
    rows = []
    for n in range(12):
        year = 1900 + 4 * n
        sentences = [
            f"In {year + k} the harbour of town {n} handled cargo number {k * n} for the guild."
            for k in range(14)
        ]
        rows.append(
            {"id": f"doc{n}", "title": f"Town {n}", "text": " ".join(sentences), "date": f"{year + 30}-05-01"}
        )
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    embed, model_id, dim = sentence_transformer_embedder(device="cpu", batch_size=16)
    path = tmp_path / "store"
    with open_store_for(str(path), model_id, dim) as store:
        ingest([str(corpus)], store, embed, batch_passages=32, progress=False)
        originals = {d.id: d for d in store.filter_documents()}
    raw = (path / SQLITE_FILE).read_bytes()
    (path / SQLITE_FILE).write_bytes(raw[: int(len(raw) * 0.6)])

    report = recover_store(str(path))
    assert 0 < report.passages_saved < len(originals) and report.documents_incomplete > 0
    with open_store_for(str(path), model_id, dim) as store:
        again = ingest([str(corpus)], store, embed, batch_passages=32, progress=False)
        # complete documents kept their ingestion records and are skipped; the others are written again
        assert again.documents_unchanged > 0 and again.documents_written >= report.documents_incomplete
        restored = {d.id: d for d in store.filter_documents()}
        assert restored.keys() == originals.keys()
        assert all(restored[i].content == originals[i].content for i in originals)
        assert store.check() == []
