"""Ingestion: readers, splitting, dating, embedding, transactions, resumability and reports."""

from __future__ import annotations

import gzip
import json
from datetime import date

import numpy as np
import pytest
from haystack import Document

from chronorag.indexers import ChronoDocumentStore, passage_text
from chronorag.indexers.ingest import (
    build_passages,
    date_passages,
    ingest,
    open_store_for,
    sentence_transformer_embedder,
    split_text,
)
from chronorag.indexers.sources import (
    RejectedRecord,
    SourceDocument,
    detect_format,
    read_csv,
    read_jsonl,
    read_realtimeqa,
    read_source,
    read_text_folder,
    read_timeqa,
)
from chronorag.temporal.extractor import SPANS_VERSION
from chronorag.temporal.meta import older_spans


@pytest.fixture(scope="module")
def embed(embedder):
    function, model_id, dim = sentence_transformer_embedder(device="cpu")
    return function, model_id, dim


def test_passage_text():
    assert passage_text(Document(content="Body.", meta={"title": "Title"})) == "Title. Body."
    assert passage_text(Document(content="Body.")) == "Body."
    assert passage_text(Document(content="Body.", meta={"title": "  "})) == "Body."


def test_split_text_sizes():
    sentence = "The council met in 1995 and approved the bridge. "
    text = sentence * 60  # 540 words
    passages = split_text(text, target_words=100, max_words=200)
    lengths = [len(p.split()) for p in passages]
    assert sum(lengths) == 540
    assert all(90 <= n <= 200 for n in lengths)
    assert all(p.endswith(".") for p in passages)
    run_on = " ".join(["word"] * 450)  # a single 450-word "sentence"
    assert max(len(p.split()) for p in split_text(run_on)) <= 200
    assert split_text("") == []
    assert split_text("Short text.") == ["Short text."]


def test_build_passages_keeps_timeqa_paragraph_ids():
    long_para = " ".join(["lorem"] * 450)
    doc = SourceDocument(
        id="/wiki/X#P1", text="", title="X", passages=["X", "First para .", long_para], meta={}
    )
    passages = build_passages(doc)
    ids = [p.id for p in passages]
    assert ids[:3] == ["/wiki/X#P1#0", "/wiki/X#P1#1", "/wiki/X#P1#2"]
    assert ids[3:] == ["/wiki/X#P1#2.1", "/wiki/X#P1#2.2", "/wiki/X#P1#2.3"]  # 100+100+100+150 words
    assert all(p.meta["para"] == 2 for p in passages[2:])
    assert passages[1].meta == {"title": "X", "doc_id": "/wiki/X#P1", "passage_index": 1, "para": 1}


def test_date_passages_metadata_and_inferred():
    dated = SourceDocument(id="a", text="In March 2020 the plan began.", date="2022/06/16")
    passages = build_passages(dated)
    date_passages(dated, passages)
    meta = passages[0].meta
    assert meta["date"] == "2022-06-16" and meta["date_source"] == "metadata"
    assert meta["time_spans"][0]["start"] == "2020-03-01" and meta["time_spans"][0]["text"] == "March 2020"

    undated = SourceDocument(
        id="b", text="On 3 May 2021 the council voted. Today, on 4 May 2021, it met again."
    )
    passages = build_passages(undated)
    date_passages(undated, passages)
    assert passages[0].meta["date_source"] == "inferred"
    assert passages[0].meta["date"].startswith("2021-05")
    assert 0 <= passages[0].meta["date_confidence"] <= 1

    nothing = SourceDocument(id="c", text="No dates here at all.")
    passages = build_passages(nothing)
    date_passages(nothing, passages)
    assert "date" not in passages[0].meta and passages[0].meta["time_spans"] == []


def test_read_jsonl_reports_bad_lines(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(
                    {"id": "a", "title": "A", "text": "Alpha.", "date": "2020-01-01", "meta": {"k": 1}}
                ),
                "{broken",
                json.dumps({"id": "b"}),
                json.dumps({"id": "c", "content": "Gamma via content."}),
                json.dumps({"id": "d", "text": "   "}),
                json.dumps(["not", "an", "object"]),
                json.dumps({"text": "No id given."}),
            ]
        )
    )
    items = list(read_jsonl(path))
    good = [i for i in items if isinstance(i, SourceDocument)]
    bad = {i.origin.rsplit(":", 1)[1]: i.reason for i in items if isinstance(i, RejectedRecord)}
    assert [d.id for d in good[:2]] == ["a", "c"]
    assert good[0].meta == {"k": 1} and good[0].date == "2020-01-01"
    assert good[2].id.startswith("sha1:")
    assert set(bad) == {"2", "3", "5", "6"}
    assert "invalid JSON" in bad["2"] and "missing 'text'" in bad["3"] and bad["5"] == "empty text"


def test_read_csv_and_text_folder(tmp_path):
    csv_path = tmp_path / "in.csv"
    csv_path.write_text('id,title,text,date,source\n1,One,"First, with comma.",2001-01-01,web\n2,Two,,,\n')
    items = list(read_csv(csv_path))
    assert isinstance(items[0], SourceDocument) and items[0].meta == {"source": "web"}
    assert isinstance(items[1], RejectedRecord) and items[1].origin.endswith(":3")
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# A heading\n\nBody of a.")
    (folder / "sub" / "b.txt").write_text("Body of b.")
    (folder / "empty.txt").write_text("  ")
    items = list(read_text_folder(folder))
    docs = {i.id: i for i in items if isinstance(i, SourceDocument)}
    assert docs["a.md"].title == "A heading" and docs["a.md"].text == "Body of a."
    assert docs["sub/b.txt"].title == "b"
    assert any(isinstance(i, RejectedRecord) and i.reason == "empty file" for i in items)
    assert detect_format(folder) == "text" and detect_format(csv_path) == "csv"


def test_read_timeqa_real_pages(shared_data):
    pages = list(read_timeqa(shared_data / "timeqa" / "human_annotated_test.dev.json"))
    assert len(pages) == 163 and all(isinstance(p, SourceDocument) for p in pages)
    first = pages[0]
    assert first.title == first.passages[0].strip()
    raw = json.loads((shared_data / "timeqa" / "human_annotated_test.dev.json").read_text())
    question, answers = raw[0]["questions"][0]
    gold = build_passages(first)[answers[0]["para"]]
    assert gold.id == f"{raw[0]['index']}#{answers[0]['para']}"
    assert answers[0]["answer"].split()[0] in gold.content


def test_read_realtimeqa_dedupes_urls(tmp_path):
    week = tmp_path / "2022"
    week.mkdir()
    article = {
        "url": "http://a",
        "title": "A",
        "text": "Text A.",
        "publish_date": "2022/06/10",
        "authors": [],
    }
    rows = [
        {"question_id": "1", "search_result": [article, {"url": "http://b", "title": "B", "text": ""}]},
        {
            "question_id": "2",
            "search_result": [{**article, "text": "Other copy."}, {"url": "http://c", "text": "C."}],
        },
    ]
    for name in ("20220610_gcs.jsonl.gz", "20220617_gcs.jsonl.gz"):
        with gzip.open(week / name, "wt") as handle:
            handle.write("\n".join(json.dumps(r) for r in rows) + "\n")
    items = list(read_source(tmp_path))
    docs = [i for i in items if isinstance(i, SourceDocument)]
    assert [d.id for d in docs] == ["http://a", "http://c"]
    assert docs[0].text == "Text A." and docs[0].date == "2022/06/10" and docs[1].date is None
    assert any(isinstance(i, RejectedRecord) and "no text" in i.reason for i in items)


def test_read_realtimeqa_real_file(shared_data):
    files = sorted((shared_data / "realtimeqa" / "search_results").rglob("*_gcs.jsonl.gz"))[:1]
    docs = [i for i in read_realtimeqa(files[0]) if isinstance(i, SourceDocument)]
    assert docs and len({d.id for d in docs}) == len(docs)


def test_ingest_writes_dated_embedded_passages_and_resumes(tmp_path, embed):
    function, model_id, dim = embed
    corpus = tmp_path / "c.jsonl"
    records = [
        {
            "id": "n1",
            "title": "Bridge",
            "text": "The town opened a bridge in May 2019. It cost a lot.",
            "date": "2019-05-20",
        },
        {
            "id": "n2",
            "title": "Election",
            "text": "Voters chose a mayor on 3 March 2021.",
            "date": "2021-03-04",
        },
        {"id": "n3", "title": "Undated", "text": "The festival of 1998 drew crowds."},
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    store = open_store_for(str(tmp_path / "s"), model_id, dim)
    report = ingest([str(corpus)], store, function, progress=False)
    assert report.documents_written == 3 and report.passages_written == 3
    assert [r.origin for r in report.rejected] == [f"{corpus}:4"]
    summary = report.to_dict()
    assert summary["rejected_by_reason"]["invalid JSON"]["count"] == 1
    passage = store.get_documents_by_id(["n1#0"], return_embedding=True)[0]
    assert passage.meta["date"] == "2019-05-20" and passage.meta["time_spans"][0]["text"] == "May 2019"
    assert passage.meta["spans_version"] == SPANS_VERSION and not older_spans(passage.meta)
    assert np.linalg.norm(passage.embedding) == pytest.approx(1.0, abs=1e-3)
    query = function(["When did the town open its bridge?"])[0]
    assert store.search(query, 1)[0].id == "n1#0"
    assert store.search(query, 3, published_on_or_before=date(2019, 1, 1))[0].id != "n1#0"

    again = ingest([str(corpus)], store, function, progress=False)
    assert again.documents_unchanged == 3 and again.documents_written == 0
    # A new reading of time (chronorag.temporal.extractor.SPANS_VERSION) re-indexes every document: the
    # spans a store holds were read at ingestion.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("chronorag.temporal.extractor.SPANS_VERSION", 10**6)
        reread = ingest([str(corpus)], store, function, progress=False)
    assert reread.documents_replaced == 3 and reread.documents_unchanged == 0
    again = ingest([str(corpus)], store, function, progress=False)
    assert again.documents_replaced == 3  # back to this version's reading: re-indexed once more

    records[1]["text"] = "Voters chose a mayor on 3 March 2021. " + "A long recount followed. " * 40
    corpus.write_text("\n".join(json.dumps(r) for r in records))
    changed = ingest([str(corpus)], store, function, progress=False)
    assert changed.documents_replaced == 1 and changed.documents_unchanged == 2
    n2 = [d for d in store.filter_documents({"field": "meta.doc_id", "operator": "==", "value": "n2"})]
    assert len(n2) == changed.passages_written > 1
    assert store.check() == []
    store.close()


def test_ingest_rejects_duplicates_and_unreadable_inputs(tmp_path, embed):
    function, model_id, dim = embed
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        json.dumps({"id": "x", "text": "One."}) + "\n" + json.dumps({"id": "x", "text": "Two."}) + "\n"
    )
    store = open_store_for(str(tmp_path / "s"), model_id, dim)
    report = ingest([str(corpus), str(tmp_path / "missing.jsonl")], store, function, progress=False, limit=5)
    reasons = [r.reason for r in report.rejected]
    assert any(r.startswith("duplicate document id") for r in reasons)
    assert any(r.startswith("cannot read input") for r in reasons)
    assert report.documents_written == 1
    store.close()


def test_ingest_rejects_unaddressable_ids_and_nan_meta_per_record(tmp_path, embed):
    """`chronorag index` checks what the store would refuse per record: the bad ones are reported, the
    rest written (a bad id or NaN does not fail the whole batch)."""
    function, model_id, dim = embed
    corpus = tmp_path / "c.jsonl"
    lines = [
        '{"id": "line\\nbreak", "text": "The mill burned in 1901."}',
        '{"id": " padded", "text": "The mill was rebuilt in 1903."}',
        '{"id": "nan-meta", "text": "The mill closed in 1950.", "meta": {"w": NaN}}',
        '{"id": "fine", "text": "The mill reopened as a museum in 1988."}',
    ]
    corpus.write_text("\n".join(lines) + "\n")
    store = open_store_for(str(tmp_path / "s"), model_id, dim)
    report = ingest([str(corpus)], store, function, progress=False)
    reasons = {r.origin.rsplit(":", 1)[1]: r.reason for r in report.rejected}
    assert sorted(reasons) == ["1", "2", "3"]
    assert "control character U+000A" in reasons["1"]
    assert "leading or trailing whitespace" in reasons["2"]
    assert "meta.w is nan" in reasons["3"]
    assert report.documents_written == 1 and store.get_documents_by_id(["fine#0"])
    store.close()


def test_ingest_batches_are_written_in_order_and_a_failing_batch_stops_the_run(tmp_path, embed):
    """Batches are embedded and written in a worker thread while the next is prepared; a failure there
    surfaces in the caller, and every batch reported through on_batch before it is in the store."""
    function, model_id, dim = embed
    corpus = tmp_path / "c.jsonl"
    rows = [{"id": f"d{i}", "text": f"Town {i} built a mill in {1800 + i}."} for i in range(9)]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    calls: list[int] = []
    reported: list[int] = []

    def failing_third_batch(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        if len(calls) == 3:
            raise RuntimeError("embedding backend died")
        return function(texts)

    store = open_store_for(str(tmp_path / "s"), model_id, dim)
    with pytest.raises(RuntimeError, match="embedding backend died"):
        ingest(
            [str(corpus)],
            store,
            failing_third_batch,
            batch_passages=3,
            progress=False,
            on_batch=lambda report: reported.append(report.documents_written),
        )
    assert calls == [3, 3, 3] and reported == [3, 6]
    # The two batches that returned are durable, whole and in order; nothing of the failed one is stored.
    assert sorted(d.meta["doc_id"] for d in store.filter_documents()) == [f"d{i}" for i in range(6)]
    assert store.check() == []
    store.close()
    store = open_store_for(str(tmp_path / "s"), model_id, dim)
    resumed = ingest([str(corpus)], store, function, progress=False)
    assert resumed.documents_unchanged == 6 and resumed.documents_written == 3
    store.close()


def test_ingest_without_embeddings_supports_bm25(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        json.dumps({"id": "x", "title": "Harbour", "text": "Ships arrived at the harbour in 1850."})
    )
    store = ChronoDocumentStore(str(tmp_path / "s"))
    report = ingest([str(corpus)], store, None, progress=False)
    assert report.passages_written == 1
    assert store.bm25_search("harbour ships", 3)[0].id == "x#0"
    store.close()


def test_int8_embedder_stays_close_to_fp32(embed):
    fp32, model_id, dim = embed
    int8, int8_id, int8_dim = sentence_transformer_embedder(device="cpu", quantize="int8")
    assert (int8_id, int8_dim) == (model_id, dim)
    texts = ["The council approved the bridge in 1995.", "Tomatoes need sun.", "Arsenal won the league."]
    cosines = (fp32(texts) * int8(texts)).sum(axis=1)
    assert cosines.min() > 0.9
    with pytest.raises(ValueError):
        sentence_transformer_embedder(quantize="int4")


@pytest.mark.slow
def test_onnx_int8_embedder_matches_fp32_space(embed, tmp_path_factory, monkeypatch):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from chronorag.indexers.onnx_embedder import onnx_embedder

    monkeypatch.setenv("CHRONORAG_CACHE_DIR", str(tmp_path_factory.mktemp("onnx-cache")))
    fp32, model_id, dim = embed
    int8, int8_id, int8_dim = onnx_embedder(quantize="int8", threads=1)
    assert (int8_id, int8_dim) == (model_id, dim)
    texts = ["The council approved the bridge in 1995.", "Tomatoes need sun.", "Arsenal won the league."]
    vectors = int8(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert (fp32(texts) * vectors).sum(axis=1).min() > 0.98
    # The same order-independent result whatever the batch composition (texts are length-sorted inside).
    assert np.allclose(int8(texts[::-1])[::-1], vectors, atol=1e-5)
