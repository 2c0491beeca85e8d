"""Several processes and store instances writing and reading one store folder (`chronorag serve` workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from haystack import Document

from chronorag.indexers import ChronoDocumentStore

DIM = 16


def _docs(prefix: str, n: int, seed: int) -> list[Document]:
    rng = np.random.default_rng(seed)
    return [
        Document(
            id=f"{prefix}{i}",
            content=f"passage {prefix} {i} about the harbour",
            meta={"doc_id": prefix, "date": "2001-05-01"},
            embedding=rng.standard_normal(DIM).astype(np.float32).tolist(),
        )
        for i in range(n)
    ]


def test_two_instances_see_each_others_writes_and_number_generations_apart(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    first = ChronoDocumentStore(path, embedding_dim=DIM)
    second = ChronoDocumentStore(path, embedding_dim=DIM)
    first.write_documents(_docs("a", 5, 0))
    second.write_documents(_docs("b", 5, 1))  # second had not looked since first's commit
    first.write_documents(_docs("c", 5, 2))
    assert first.generation == second.generation + 1 == 3
    for store in (first, second):
        found = store.search(_docs("b", 5, 1)[3].embedding, top_k=15)
        assert {d.id for d in found} == {f"{p}{i}" for p in "abc" for i in range(5)}
        assert found[0].id == "b3"
        assert {d.id for d in store.bm25_search("harbour", top_k=20)} == {d.id for d in found}
    second.delete_documents(["a0"])
    assert "a0" not in {d.id for d in first.search(_docs("a", 5, 0)[0].embedding, top_k=15)}
    first.close()
    second.close()
    reopened = ChronoDocumentStore(path)
    assert reopened.check() == []
    assert reopened.count_documents() == 14
    reopened.close()


_WRITER = """
import sys
import numpy as np
from haystack import Document
from chronorag.indexers import ChronoDocumentStore

store = ChronoDocumentStore(sys.argv[1], embedding_dim=__DIM__, save_every_s=0)
name = sys.argv[2]
for batch in range(15):
    rng = np.random.default_rng(batch)
    store.write_documents([
        Document(id=f"{name}-{batch}-{i}", content=f"{name} batch {batch} passage {i}",
                 meta={"doc_id": f"{name}-{batch}"},
                 embedding=rng.standard_normal(__DIM__).astype(np.float32).tolist())
        for i in range(4)
    ])
    found = {d.id for d in store.search(rng.standard_normal(__DIM__), top_k=1000)}
    assert {f"{name}-{b}-{i}" for b in range(batch + 1) for i in range(4)} <= found
    store.bm25_search("passage", top_k=3)
store.close()
""".replace("__DIM__", str(DIM))


def test_concurrent_writer_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    ChronoDocumentStore(path, embedding_dim=DIM).close()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, path, name], env=env, stderr=subprocess.PIPE)
        for name in ("w1", "w2", "w3")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err.decode()[-2000:]
    store = ChronoDocumentStore(path)
    assert store.count_documents() == 3 * 15 * 4
    assert store.generation == 3 * 15
    assert store.check() == []
    assert len(store.bm25_search("passage", top_k=500)) == 180
    store.close()
