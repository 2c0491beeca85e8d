"""Recovering a store whose ``store.sqlite`` is damaged (``chronorag store recover DIR``).

SQLite cannot open a truncated or partly overwritten database, and rebuilding the vector index needs the
vectors in it. Recovery salvages every passage that survives (``salvage.py`` reads the file's pages
without SQLite, the ``-wal`` file's committed frames included), writes them through the store's own write
path into a *new* store built in ``DIR/.recovery/store/``, rebuilds its vector index, verifies it, and
only then swaps it in:

1. ``DIR/.recovery/plan.json`` is written (atomically) once the new store is complete and checked;
2. the damaged files (``store.sqlite`` and its ``-wal``, ``vectors.faiss``, ``events.*``) are hard-linked
   into ``DIR/damaged-<time>/``: user data is never deleted, the user removes that folder when satisfied;
3. the old ``-wal``/``-shm`` are removed (SQLite would lay them over the new file), the new
   ``store.sqlite`` then ``vectors.faiss`` are renamed into place, the derived lexical and event indexes
   are dropped (rebuilt on use), and ``.recovery/`` is removed.

Each step is a rename or a removal that can be repeated, so an interrupted swap is finished by running
the command again; meanwhile the store refuses to open (``refuse_interrupted_recovery``) rather than
show a half-swapped folder. The new ``store.sqlite`` comes before its ``vectors.faiss``: a stop between
the two leaves an older vector file, which every open rebuilds from SQLite. The whole command holds
``store.writer`` exclusively: it refuses to start while a process has the store open for writing, and a
writer that opens meanwhile waits for it.

Salvaged passages keep their ids, text, meta and vectors exactly; their rowids are new. A source
document's ingestion record (its content hash) is kept only when all its passages were saved, so running
``chronorag index`` over the corpus again restores the incomplete documents and skips the complete ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from haystack import Document
from haystack.document_stores.types import DuplicatePolicy

from chronorag.indexers.errors import StoreError, StoreMismatchError
from chronorag.indexers.local_store.lock import writers_excluded
from chronorag.indexers.local_store.rows import SQLITE_FILE, RowStore
from chronorag.indexers.local_store.salvage import Record, SalvagedFile, salvage_database
from chronorag.indexers.local_store.vectors import FAISS_FILE, inspect_vector_file, vector_file_ids
from chronorag.indexers.validation import document_problem

RECOVERY_FOLDER = ".recovery"
ASIDE_PREFIX = "damaged-"
_PLAN = "plan.json"
_NEW_STORE = "store"
_WAL_FILES = (f"{SQLITE_FILE}-wal", f"{SQLITE_FILE}-shm")
_INFO_KEYS = frozenset(
    {"schema_version", "embedding_model", "embedding_dim", "index_type", "generation", "created",
     "pub_day_policy", "faiss_generation", "faiss_crc"}
)  # fmt: skip
_WRITE_BATCH = 1000


@dataclass
class RecoveryReport:
    """What ``chronorag store recover`` saved and lost.

    :param passages_saved: passages in the recovered store.
    :param passages_lost: passages the old vector index held that could not be salvaged (``None`` when
        that index was unreadable too, so the loss is unknown).
    :param passages_rejected: salvaged passages the store no longer accepts (an id it now rejects).
    :param documents_incomplete: source documents that lost passages (their ingestion records are dropped,
        so ``chronorag index`` restores them).
    :param pages_missing: database pages cut off or unreadable.
    :param cells_lost: records found but not decodable (a cut overflow chain, damaged bytes).
    :param vectors: vectors in the rebuilt index.
    :param generation: the recovered store's generation (above any the damaged one reached).
    :param aside: the folder inside the store folder that keeps the damaged files.
    """

    passages_saved: int
    passages_lost: int | None
    passages_rejected: int
    documents_incomplete: int
    pages_missing: int
    cells_lost: int
    vectors: int
    generation: int
    aside: str

    def to_dict(self) -> dict[str, Any]:
        """:returns: the report as a JSON-ready dict."""
        return asdict(self)


def refuse_interrupted_recovery(folder: Path, path: str) -> None:
    """
    :param folder: a store folder.
    :param path: the folder as the user gave it (for the message).
    :raises StoreError: when a recovery's swap was interrupted there (the folder is half-swapped).
    """
    if (folder / RECOVERY_FOLDER / _PLAN).exists():
        raise StoreError(
            f"store {path!r} is in the middle of a recovery that was interrupted: run "
            f"`chronorag store recover {path}` again to finish it"
        )


def recover_store(
    path: str,
    embedding_model: str | None = None,
    embedding_dim: int | None = None,
    progress: bool = False,
) -> RecoveryReport:
    """
    Salvage the passages of a damaged ``store.sqlite`` into a new store, rebuild its index and swap it
    in, keeping the damaged files aside (or finish an interrupted recovery).

    :param path: the store folder.
    :param embedding_model: the model the vectors come from, needed only when the store's settings were
        lost with the damage (it must agree with them otherwise).
    :param embedding_dim: the vector dimension, likewise (otherwise read from the salvaged vectors).
    :param progress: show a progress bar while writing the new store.
    :returns: what was saved and lost.
    :raises StoreError: when there is no store, a process has it open for writing, or nothing could be
        salvaged (the folder is left as it was then).
    """
    folder = Path(path)
    plan_path = folder / RECOVERY_FOLDER / _PLAN
    if not (folder / SQLITE_FILE).exists() and not plan_path.exists():
        raise StoreError(f"no store at {path!r} (missing {SQLITE_FILE})")
    with writers_excluded(folder) as excluded:
        if not excluded:
            raise StoreError(
                f"a process has store {path!r} open for writing (a server, an index run): stop it, then "
                "recover (it would keep writing to the damaged file)"
            )
        if plan_path.exists():
            plan = json.loads(plan_path.read_text(encoding="utf-8"))
        elif _database_is_sound(folder / SQLITE_FILE):
            raise StoreError(
                f"{SQLITE_FILE} in {path!r} passes SQLite's checks: there is nothing to recover "
                f"(`chronorag store check {path}` says what is wrong, if anything)"
            )
        else:
            shutil.rmtree(folder / RECOVERY_FOLDER, ignore_errors=True)  # a salvage that did not finish
            report = _build_recovered_store(
                folder, folder / RECOVERY_FOLDER / _NEW_STORE, embedding_model, embedding_dim, progress
            )
            plan = {"report": report.to_dict()}
            _write_atomically(plan_path, json.dumps(plan, indent=2))
        _swap(folder, plan["report"]["aside"])
    return RecoveryReport(**plan["report"])


def _database_is_sound(path: Path) -> bool:
    """Whether SQLite reads the database whole; opened read-only, so that closing it does not checkpoint
    a ``-wal`` into a damaged file before the salvage has read both."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            return [row[0] for row in conn.execute("PRAGMA quick_check(1)")] == ["ok"]
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False


# ---------------------------------------------------------------------- salvage and rebuild
@dataclass
class _Passage:
    rowid: int
    pid: str
    doc_id: str | None
    data: str
    vector: bytes | None
    reachable: bool


def _as_passage(rowid: int, values: Record, reachable: bool) -> _Passage | None:
    """A ``passages`` row (rowid alias, id, doc_id, pub_day, has_vector, data, vector), checked strictly
    enough that no other table's row passes: its JSON must parse and carry the same id."""
    if len(values) != 7:
        return None
    _, pid, doc_id, pub_day, has_vector, data, vector = values
    if not isinstance(pid, str) or not isinstance(data, str) or not isinstance(has_vector, int):
        return None
    if not (doc_id is None or isinstance(doc_id, str)) or not (pub_day is None or isinstance(pub_day, int)):
        return None
    if not (vector is None or (isinstance(vector, bytes) and vector and len(vector) % 4 == 0)):
        return None
    if has_vector != int(vector is not None):
        return None
    try:
        payload = json.loads(data)
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("id") != pid:
        return None
    return _Passage(rowid, pid, doc_id, data, vector, reachable)


def _passages(found: SalvagedFile) -> dict[str, _Passage]:
    """Salvaged passages by id: a row its table still reaches wins, then the highest rowid (an overwrite
    deletes the old row and inserts a new one, so the highest rowid is the latest)."""
    chosen: dict[str, _Passage] = {}
    rows = [(r, v, True) for r, v in found.tables["passages"]] + [(r, v, False) for r, v in found.orphans]
    for rowid, values, reachable in rows:
        passage = _as_passage(rowid, values, reachable)
        if passage is None:
            continue
        held = chosen.get(passage.pid)
        if held is None or (passage.reachable, passage.rowid) > (held.reachable, held.rowid):
            chosen[passage.pid] = passage
    return chosen


def _info(found: SalvagedFile) -> dict[str, str]:
    info = {v[0]: v[1] for _, v in found.tables["info"] if len(v) == 2 and isinstance(v[0], str)}
    for _, values in found.orphans:
        if len(values) == 2 and values[0] in _INFO_KEYS and isinstance(values[1], str):
            info.setdefault(values[0], values[1])
    return info


def _sources(found: SalvagedFile) -> dict[str, tuple[str, int]]:
    sources = {}
    for _, values in found.tables["sources"] + found.orphans:
        if len(values) != 3 or not isinstance(values[0], str) or not isinstance(values[1], str):
            continue
        if isinstance(values[2], int) and values[2] >= 0:
            sources.setdefault(values[0], (values[1], values[2]))
    return sources


def _settings(
    info: dict[str, str],
    passages: dict[str, _Passage],
    embedding_model: str | None,
    embedding_dim: int | None,
) -> tuple[str, int]:
    model = info.get("embedding_model")
    if model and embedding_model and model != embedding_model:
        raise StoreMismatchError(f"the store records vectors of {model!r}, not {embedding_model!r}")
    model = model or embedding_model
    if not model:
        raise StoreError(
            "the store's settings were lost with the damage: give --embedding-model, the model its "
            "vectors come from"
        )
    dim = int(info["embedding_dim"]) if info.get("embedding_dim", "").isdigit() else None
    if dim and embedding_dim and dim != embedding_dim:
        raise StoreMismatchError(f"the store records {dim}-d vectors, not {embedding_dim}-d ones")
    lengths = Counter(len(p.vector) for p in passages.values() if p.vector is not None)
    dim = dim or embedding_dim or (lengths.most_common(1)[0][0] // 4 if lengths else None)
    if not dim:
        raise StoreError("the vector dimension was lost with the damage: give --embedding-dim")
    return model, dim


def _old_generation(info: dict[str, str], old_index: tuple[int, Any] | None, folder: Path) -> int:
    """The highest generation the damaged store reached, as far as its files tell."""
    known = [int(info[k]) for k in ("generation", "faiss_generation") if info.get(k, "").isdigit()]
    if old_index is not None:
        known.append(old_index[0])
    events = folder / "events.json"
    with contextlib.suppress(OSError, ValueError, TypeError):
        known.append(int(json.loads(events.read_text(encoding="utf-8"))["generation"]))
    return max(known, default=0)


def _old_index(folder: Path) -> tuple[int, Any] | None:
    """``(generation, ids)`` of the damaged store's vector file, when it is intact."""
    faiss_path = folder / FAISS_FILE
    if not faiss_path.exists():
        return None
    state = inspect_vector_file(faiss_path)
    if state.problem:
        return None
    try:
        return state.generation, vector_file_ids(faiss_path)
    except RuntimeError:
        return None


def _build_recovered_store(
    folder: Path, target: Path, embedding_model: str | None, embedding_dim: int | None, progress: bool
) -> RecoveryReport:
    from chronorag.indexers.store import ChronoDocumentStore

    found = salvage_database(folder / SQLITE_FILE, ("info", "passages", "sources"))
    passages = _passages(found)
    if not passages:
        raise StoreError(
            f"no passage could be salvaged from {folder / SQLITE_FILE} ({found.pages_missing} of "
            f"{found.page_count} pages missing); the folder is left as it was: restore the store from a "
            "backup or index the corpus again into a new store"
        )
    info = _info(found)
    model, dim = _settings(info, passages, embedding_model, embedding_dim)
    old_index = _old_index(folder)
    target.mkdir(parents=True)
    decoder = _new_database(target, model, dim, info, _old_generation(info, old_index, folder) + 1)
    sources = _complete_sources(_sources(found), passages)
    store = ChronoDocumentStore(str(target))
    try:
        rejected = _write_passages(store, decoder, passages, sources, dim, progress)
    finally:
        store.close()
    saved, vectors, generation = _verify(target)
    lost = None
    if old_index is not None:
        saved_rowids = {p.rowid for p in passages.values()}
        lost = sum(1 for rowid in old_index[1].tolist() if rowid not in saved_rowids)
    by_document = Counter(p.doc_id for p in passages.values() if p.doc_id is not None)
    return RecoveryReport(
        passages_saved=saved,
        passages_lost=lost,
        passages_rejected=rejected,
        documents_incomplete=sum(1 for d, (_, n) in _sources(found).items() if by_document[d] < n),
        pages_missing=found.pages_missing,
        cells_lost=found.cells_lost,
        vectors=vectors,
        generation=generation,
        aside=_aside_name(folder),
    )


def _new_database(target: Path, model: str, dim: int, info: dict[str, str], generation: int) -> RowStore:
    """Create the new store's database with the old settings, numbered from ``generation`` on (above any
    generation of the damaged store, so nothing derived from it passes for current)."""
    rows = RowStore(target, str(target), read_only=False)
    index_type = info.get("index_type") or "flat"
    rows.init_info(model, dim, index_type)
    rows.conn.execute("BEGIN IMMEDIATE")
    rows.set_info("generation", generation)
    if info.get("created"):
        rows.set_info("created", info["created"])
    rows.conn.execute("COMMIT")
    rows.close()  # kept to decode rows: it knows the dimension
    return rows


def _complete_sources(
    sources: dict[str, tuple[str, int]], passages: dict[str, _Passage]
) -> dict[str, tuple[str, int]]:
    """The ingestion records of documents whose every passage was saved (a re-run skips only those)."""
    by_document = Counter(p.doc_id for p in passages.values() if p.doc_id is not None)
    return {doc_id: record for doc_id, record in sources.items() if by_document[doc_id] == record[1]}


def _documents(decoder: RowStore, passages: dict[str, _Passage], dim: int) -> Iterator[Document | None]:
    for passage in sorted(passages.values(), key=lambda p: p.rowid):
        vector = passage.vector
        if vector is not None and len(vector) not in (4 * dim, 8 * dim):
            yield None
            continue
        try:
            yield decoder.row_to_document(passage.data, vector)
        except (ValueError, TypeError, KeyError):
            yield None


def _write_passages(
    store: Any,
    decoder: RowStore,
    passages: dict[str, _Passage],
    sources: dict[str, tuple[str, int]],
    dim: int,
    progress: bool,
) -> int:
    """Write the salvaged passages in batches through the store's write path; returns how many it rejected."""
    import sys

    from tqdm import tqdm

    rejected = 0
    batch: list[Document] = []
    pending_sources = dict(sources)
    bar = tqdm(total=len(passages), unit=" passages", disable=not progress, file=sys.stderr, mininterval=0.5)
    with bar:
        for document in _documents(decoder, passages, dim):
            if document is None or document_problem(document) is not None:
                rejected += 1
            else:
                batch.append(document)
            if len(batch) >= _WRITE_BATCH:
                store.write_batch(batch, policy=DuplicatePolicy.OVERWRITE, sources=pending_sources)
                pending_sources = {}
                bar.update(len(batch))
                batch = []
        if batch or pending_sources:
            store.write_batch(batch, policy=DuplicatePolicy.OVERWRITE, sources=pending_sources)
            bar.update(len(batch))
    return rejected


def _verify(target: Path) -> tuple[int, int, int]:
    """Check the new store before it replaces anything; returns its passages, vectors and generation."""
    from chronorag.indexers.store import ChronoDocumentStore

    store = ChronoDocumentStore(str(target), read_only=True)
    try:
        problems = store.check()
        stats = store.stats()
    finally:
        store.close()
    if problems:
        raise StoreError(f"the recovered store fails its check ({'; '.join(problems)}); nothing was swapped")
    for name in (SQLITE_FILE, FAISS_FILE):
        _fsync(target / name)
    if (target / _WAL_FILES[0]).exists():  # every connection is closed, so SQLite has checkpointed it
        raise StoreError(f"the recovered database still has a {_WAL_FILES[0]}; nothing was swapped")
    return stats["passages"], stats["vectors"], stats["generation"]


# ---------------------------------------------------------------------- the swap
def _aside_name(folder: Path) -> str:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name, n = f"{ASIDE_PREFIX}{stamp}", 1
    while (folder / name).exists():
        n += 1
        name = f"{ASIDE_PREFIX}{stamp}-{n}"
    return name


def _swap(folder: Path, aside_name: str) -> None:
    """Put the new store in place of the damaged one, step by repeatable step (see the module docstring)."""
    from chronorag.indexers.bm25 import BM25_FOLDER
    from chronorag.indexers.events import EVENTS_TEXTS, EVENTS_VECTORS

    work = folder / RECOVERY_FOLDER
    new = work / _NEW_STORE
    aside = folder / aside_name
    aside.mkdir(exist_ok=True)
    for name in (SQLITE_FILE, _WAL_FILES[0], FAISS_FILE, EVENTS_VECTORS, EVENTS_TEXTS):
        if (folder / name).exists() and not (aside / name).exists():
            _keep(folder / name, aside / name)
    _fsync(aside)
    for name in _WAL_FILES:
        (folder / name).unlink(missing_ok=True)
    for name in (SQLITE_FILE, FAISS_FILE):
        if (new / name).exists():
            os.replace(new / name, folder / name)
    for name in (EVENTS_VECTORS, EVENTS_TEXTS):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / BM25_FOLDER, ignore_errors=True)
    _fsync(folder)
    (work / _PLAN).unlink()
    shutil.rmtree(work, ignore_errors=True)


def _keep(source: Path, target: Path) -> None:
    """A second name for a damaged file (a hard link: no copy of a large file), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)
