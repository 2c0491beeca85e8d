"""``chronorag index`` and ``chronorag store info|check|rebuild`` through the real Typer app."""

from __future__ import annotations

import json

import pytest

from chronorag.indexers.store import FAISS_FILE


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rows = [
        {
            "id": "a",
            "title": "Canal",
            "text": "The canal opened in 1825 and carried coal.",
            "date": "1826-01-01",
        },
        {"id": "b", "title": "Railway", "text": "The railway reached the town in 1850."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{oops\n")
    return path


def test_index_reports_and_resumes(app, runner, corpus, tmp_path, embedder):
    store = tmp_path / "store"
    result = runner.invoke(app, ["index", str(corpus), "--store", str(store), "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["documents_written"] == 2 and summary["passages_written"] == 2
    assert summary["rejected"] == 1
    assert f"{corpus}:3" in summary["rejected_by_reason"]["invalid JSON"]["examples"][0]
    again = runner.invoke(app, ["index", str(corpus), "--store", str(store), "--no-progress"])
    assert again.exit_code == 0 and "unchanged 2" in again.output


def test_store_info_check_rebuild(app, runner, corpus, tmp_path, embedder):
    store = tmp_path / "store"
    assert runner.invoke(app, ["index", str(corpus), "-s", str(store), "--no-progress"]).exit_code == 0
    info = runner.invoke(app, ["store", "info", str(store), "--json"])
    assert info.exit_code == 0, info.output
    stats = json.loads(info.stdout)
    assert stats["passages"] == 2 and stats["embedding_model"] == "all-MiniLM-L6-v2"
    assert (
        stats["embedding_dim"] == 384 and stats["index_type"] == "flat" and stats["device"] in ("cpu", "gpu")
    )
    assert stats["date_min"] == "1826-01-01" and stats["size_bytes"] > 0
    assert runner.invoke(app, ["store", "info", str(store)]).exit_code == 0

    check = runner.invoke(app, ["store", "check", str(store)])
    assert check.exit_code == 0 and "ok: 2 passages" in check.output

    (store / FAISS_FILE).write_bytes(b"garbage")
    broken = runner.invoke(app, ["store", "check", str(store)])
    assert broken.exit_code == 1 and "rebuild" in broken.output
    rebuilt = runner.invoke(app, ["store", "rebuild", str(store)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert runner.invoke(app, ["store", "check", str(store)]).exit_code == 0


def test_store_commands_on_missing_store(app, runner, tmp_path):
    result = runner.invoke(app, ["store", "info", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no store" in result.output
    assert runner.invoke(app, ["store", "check", str(tmp_path / "nothing")]).exit_code == 1


def test_index_refuses_store_of_another_model(app, runner, corpus, tmp_path):
    from chronorag.indexers import ChronoDocumentStore

    ChronoDocumentStore(str(tmp_path / "other"), embedding_model="another-model", embedding_dim=384).close()
    result = runner.invoke(app, ["index", str(corpus), "-s", str(tmp_path / "other"), "--no-progress"])
    assert result.exit_code == 2 and "another-model" in result.output
