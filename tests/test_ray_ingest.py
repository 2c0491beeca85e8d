"""Ray Data ingestion in local mode into Milvus Lite: the local path's documents, dates and vectors; a worker
failing mid-run loses nothing acknowledged and a re-run completes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("pymilvus")

from chronorag.indexers.ingest import ingest, open_store_for  # noqa: E402
from chronorag.indexers.ray_ingest import EmbedderSpec, RayIngestError, ray_ingest  # noqa: E402

# Each test starts Ray actors and loads the model in them: slow on two shared cores.
pytestmark = [pytest.mark.ray, pytest.mark.milvus, pytest.mark.slow]

SPEC = EmbedderSpec(backend="torch", quantize="none", device="cpu")


class PoisonedEmbedder:
    """A model actor that dies on a marked record (what a crashing GPU worker looks like to the driver)."""

    def __call__(self):
        embed, model_id, dim, description = SPEC()

        def embed_or_die(texts):
            if any("POISON" in text for text in texts):
                raise RuntimeError("the embedding worker crashed")
            return embed(texts)

        return embed_or_die, model_id, dim, description


@pytest.fixture(scope="module")
def ray_local():
    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    # The poisoned embedder is defined here: ship it to the workers by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "news.jsonl"
    lines = []
    for i in range(12):
        text = (
            f"In {1990 + i} the harbour of town {i} reopened after the storm of March {1989 + i}. "
            f"Last year the mayor promised a new bridge; it opened on 4 May {1991 + i}. " * 4
        )
        record = {"id": f"doc{i}", "title": f"Town {i}", "text": text}
        if i % 3:
            record["date"] = f"{2000 + i}-06-0{1 + i % 8}"  # the others get an inferred date
        lines.append(json.dumps(record))
    lines.insert(5, "{not json")
    lines.append(json.dumps({"id": "doc3", "title": "again", "text": "a duplicate id"}))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _by_id(store):
    return {d.id: d for d in store.iter_documents(return_embedding=True)}


def test_ray_gives_the_local_paths_documents_dates_and_vectors(ray_local, corpus, tmp_path):
    embed, model_id, dim, _ = SPEC()
    local = open_store_for(str(tmp_path / "local"), model_id, dim)
    expected = ingest([corpus], local, embed, batch_passages=16, progress=False)
    milvus = open_store_for(f"milvus://{tmp_path / 'ray.db'}", model_id, dim)
    report = ray_ingest([corpus], milvus, SPEC, batch_passages=16, progress=False, docs_per_batch=3)

    assert report.documents_written == expected.documents_written == 12
    assert report.passages_written == expected.passages_written
    assert [r.reason for r in report.rejected] == [r.reason for r in expected.rejected]  # bad JSON, duplicate
    want, got = _by_id(local), _by_id(milvus)
    assert got.keys() == want.keys()
    for pid, doc in want.items():
        assert got[pid].content == doc.content
        assert got[pid].meta == doc.meta  # title, doc_id, date, date_source, date_confidence, time_spans
        assert np.allclose(got[pid].embedding, doc.embedding, atol=1e-4)
    assert any(d.meta.get("date_source") == "inferred" for d in got.values())
    assert milvus.source_hashes() == local.source_hashes()
    assert milvus.check() == []

    local.close()
    milvus.close()


def test_a_worker_dying_mid_run_loses_nothing_and_a_rerun_completes(ray_local, corpus, tmp_path):
    poisoned = tmp_path / "poisoned.jsonl"
    lines = Path(corpus).read_text().splitlines()
    lines.insert(9, json.dumps({"id": "poison", "title": "P", "text": "POISON in 1999. " * 10}))
    poisoned.write_text("\n".join(lines) + "\n")
    _, model_id, dim, _ = SPEC()
    store = open_store_for(f"milvus://{tmp_path / 'crash.db'}", model_id, dim)

    with pytest.raises(RayIngestError, match="run the same command again") as failure:
        ray_ingest(
            [str(poisoned)], store, PoisonedEmbedder(), batch_passages=4, progress=False, docs_per_batch=1
        )
    assert "the embedding worker crashed" in str(failure.value.__cause__) or "crashed" in str(failure.value)
    written = store.source_hashes()
    assert "poison" not in written and len(written) < 13
    assert store.check() == []  # every acknowledged document is whole

    report = ray_ingest([str(poisoned)], store, SPEC, batch_passages=4, progress=False)
    assert report.documents_unchanged == len(written)
    assert report.documents_written == 13 - len(written)
    assert set(store.source_hashes()) == {f"doc{i}" for i in range(12)} | {"poison"}
    assert store.check() == []
    store.close()
