"""ChronoDocumentStore on a GPU: searches run on a GPU copy, the file on disk stays a CPU index.

Runs only where CUDA and faiss-gpu are present (``-m gpu``; skipped elsewhere, e.g. on the 2-core CI VM).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from haystack.document_stores.types import DuplicatePolicy
from test_store import DIM, _docs

from chronorag.indexers import ChronoDocumentStore
from chronorag.indexers.store import FAISS_FILE
from chronorag.temporal.model import Interval

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _needs_faiss_gpu():
    import faiss

    if not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0:
        pytest.skip("FAISS sees no GPU (install faiss-gpu)")


def test_gpu_search_matches_cpu_and_saves_a_cpu_index(tmp_path):
    import faiss

    docs = _docs(2000, seed=3)
    gpu = ChronoDocumentStore(str(tmp_path / "gpu"), embedding_dim=DIM, use_gpu="auto", save_every_s=0)
    cpu = ChronoDocumentStore(str(tmp_path / "cpu"), embedding_dim=DIM, use_gpu=False, save_every_s=0)
    gpu.write_documents(docs)
    cpu.write_documents(docs)
    assert gpu.device == "gpu" and cpu.device == "cpu"
    queries = np.random.default_rng(7).standard_normal((20, DIM)).astype(np.float32)
    for query in queries:
        assert [d.id for d in gpu.search(query, top_k=10)] == [d.id for d in cpu.search(query, top_k=10)]
        window = Interval(date(1995, 1, 1), date(1997, 12, 31))
        restricted = gpu.search(query, top_k=10, time_window=window)
        assert [d.id for d in restricted] == [d.id for d in cpu.search(query, top_k=10, time_window=window)]
    # An upsert reaches the GPU copy: the written vector is its own nearest neighbour at once.
    moved = docs[0]
    moved.embedding = list(queries[0] / np.linalg.norm(queries[0]))
    gpu.write_documents([moved], policy=DuplicatePolicy.OVERWRITE)
    assert gpu.search(queries[0], top_k=1)[0].id == moved.id
    gpu.close()
    cpu.close()
    # Saved as a CPU index: plain faiss-cpu reads it, and the store reopens.
    index = faiss.read_index(str(tmp_path / "gpu" / FAISS_FILE))
    assert "Gpu" not in type(index).__name__ and index.ntotal == 2000
    reopened = ChronoDocumentStore(str(tmp_path / "gpu"), use_gpu=False)
    assert reopened.search(queries[0], top_k=1)[0].id == moved.id
    reopened.close()
