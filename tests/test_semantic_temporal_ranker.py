"""SemanticTemporalRanker with the real MiniLM: Bush/Clinton, month resolution, as-of leakage,
explanations, serialisation and the cross-encoder path (a tiny random CrossEncoder built offline)."""

from __future__ import annotations

from datetime import date

import pytest
from haystack import Document, Pipeline

from chronorag.rankers.semantic_temporal_ranker import SemanticTemporalRanker
from chronorag.temporal.model import Interval, Ordinal, Relation, TemporalConstraint

PRESIDENT_Q = "Who was the president of the United States in 1999?"


def span(text: str, content: str, start: str, end: str, granularity: str = "year") -> dict:
    offset = content.index(text)
    return {
        "text": text,
        "char_start": offset,
        "char_end": offset + len(text),
        "start": start,
        "end": end,
        "granularity": granularity,
    }


def doc(content: str, title: str, spans: list[tuple], date_: str | None = None, doc_id: str | None = None):
    meta = {"title": title, "time_spans": [span(t, content, *rest) for t, *rest in spans]}
    if date_:
        meta["date"] = date_
    return Document(id=doc_id, content=content, meta=meta)


@pytest.fixture(scope="module")
def presidents() -> list[Document]:
    bush = "George W. Bush was the president of the United States from 2001 to 2009."
    clinton = "Bill Clinton served as the 42nd president from 1993 to 2001."
    return [
        doc(bush, "George W. Bush", [("2001 to 2009", "2001-01-01", "2009-12-31")], doc_id="bush"),
        doc(clinton, "Bill Clinton", [("1993 to 2001", "1993-01-01", "2001-12-31")], doc_id="clinton"),
    ]


@pytest.fixture(scope="module")
def ranker(embedder) -> SemanticTemporalRanker:
    ranker = SemanticTemporalRanker(top_k=5, cross_encoder=None, device="cpu")
    ranker.warm_up()
    return ranker


def in_1999() -> TemporalConstraint:
    return TemporalConstraint(
        PRESIDENT_Q,
        "Who was the president of the United States?",
        Relation.IN,
        Interval.year(1999),
        None,
        date(2024, 1, 1),
        time_text="in 1999",
    )


def test_run_bush_clinton_temporal_score_fixes_the_semantic_order(ranker, presidents, embedder):
    # The bi-encoder alone on the full question prefers Bush; the temporal score must put Clinton first.
    question = embedder.encode(PRESIDENT_Q, normalize_embeddings=True)
    passages = embedder.encode(
        [f"{d.meta['title']}. {d.content}" for d in presidents], normalize_embeddings=True
    )
    assert float(passages[0] @ question) > float(passages[1] @ question)
    ranked = ranker.run(PRESIDENT_Q, presidents, in_1999())["documents"]
    assert [d.id for d in ranked] == ["clinton", "bush"]
    top = ranked[0]
    assert top.meta["score_temporal"] > ranked[1].meta["score_temporal"]
    assert top.meta["matched_span"]["text"] == "1993 to 2001"
    assert "overlaps" in top.meta["temporal_reason"]
    assert 0.0 <= ranked[1].score <= top.score <= 1.0
    assert presidents[0].score is None and "score_semantic" not in presidents[0].meta  # inputs untouched


def test_run_month_resolution(ranker):
    texts = [
        ("The festival was held in June 2010 with record crowds.", "June 2010", "2010-06-01", "2010-06-30"),
        (
            "The festival was held in December 2010 with record crowds.",
            "December 2010",
            "2010-12-01",
            "2010-12-31",
        ),
    ]
    docs = [doc(t, "Harbour Festival", [(s, a, b, "month")], doc_id=s) for t, s, a, b in texts]
    question = "When was the Harbour Festival held in June 2010?"
    c = TemporalConstraint(
        question,
        "When was the Harbour Festival held?",
        Relation.IN,
        Interval.month(2010, 6),
        None,
        date(2024, 1, 1),
    )
    ranked = ranker.run(question, list(reversed(docs)), c)["documents"]
    assert ranked[0].id == "June 2010"


def test_run_as_of_drops_passages_published_after_the_reference_time(ranker):
    docs = [
        doc("The club appointed Ana Silva as head coach.", "Club news", [], "2021-03-01", "old"),
        doc("The club appointed Ben Okafor as head coach.", "Club news", [], "2023-07-01", "new"),
    ]
    question = "Who is the head coach of the club as of 2022?"
    c = TemporalConstraint(
        question,
        "Who is the head coach of the club?",
        Relation.AS_OF,
        Interval(None, date(2022, 12, 31)),
        None,
        date(2022, 12, 31),
    )
    ranked = ranker.run(question, docs, c)["documents"]
    assert [d.id for d in ranked] == ["old"]
    # Without a constraint the reference is today: both are past evidence, the latest preferred.
    latest = ranker.run("Who is the head coach of the club?", docs)["documents"]
    assert latest[0].id == "new"
    assert latest[0].meta["score_temporal"] > latest[1].meta["score_temporal"]


def test_run_last_prefers_latest_satisfying_span(ranker):
    texts = [("Maria coached the team in 2001 .", "2001"), ("Maria coached the team in 2008 .", "2008")]
    docs = [doc(t, "Team", [(y, f"{y}-01-01", f"{y}-12-31")], doc_id=y) for t, y in texts]
    question = "Who last coached the team between 2000 and 2010?"
    c = TemporalConstraint(
        question,
        "Who coached the team?",
        Relation.BETWEEN,
        Interval.years(2000, 2010),
        Ordinal.LAST,
        date(2024, 1, 1),
    )
    assert ranker.run(question, docs, c)["documents"][0].id == "2008"
    c.ordinal = Ordinal.FIRST
    assert ranker.run(question, docs, c)["documents"][0].id == "2001"


def test_run_semantic_mode_ignores_time(presidents):
    ranker = SemanticTemporalRanker(mode="semantic", cross_encoder=None, device="cpu")
    ranked = ranker.run(PRESIDENT_Q, presidents, in_1999())["documents"]
    assert {d.id for d in ranked} == {"bush", "clinton"}
    assert all(d.meta["score_temporal"] is None and 0 <= d.score <= 1 for d in ranked)


def test_run_empty_and_top_k(ranker, presidents):
    assert ranker.run("anything", [])["documents"] == []
    assert len(ranker.run(PRESIDENT_Q, presidents, in_1999(), top_k=1)["documents"]) == 1


def test_run_extracts_spans_when_meta_has_none(ranker):
    temporal = pytest.importorskip("chronorag.temporal")
    if not hasattr(temporal, "extract_mentions"):
        pytest.skip("chronorag.temporal.extract_mentions has not landed yet")
    docs = [
        Document(
            id="a",
            content="Bill Clinton was president of the United States from 1993 to 2001.",
            meta={"title": "Bill Clinton"},
        ),
        Document(
            id="b",
            content="George W. Bush was president of the United States from 2001 to 2009.",
            meta={"title": "George W. Bush"},
        ),
    ]
    ranked = ranker.run(PRESIDENT_Q, docs, in_1999())["documents"]
    assert ranked[0].id == "a" and ranked[0].meta["matched_span"] is not None


def test_to_dict_from_dict_and_pipeline_roundtrip():
    ranker = SemanticTemporalRanker(
        top_k=3,
        mode="mrag",
        time_weight=0.7,
        relevance_weights={"passage": 2.0, "question": 1.0},
        cross_encoder=None,
    )
    data = ranker.to_dict()
    assert data["type"] == "chronorag.rankers.semantic_temporal_ranker.SemanticTemporalRanker"
    assert data["init_parameters"]["mode"] == "mrag" and data["init_parameters"]["time_weight"] == 0.7
    assert data["init_parameters"]["relevance_weights"] == {"passage": 2.0, "question": 1.0}
    again = SemanticTemporalRanker.from_dict(data)
    assert again.to_dict() == data
    pipeline = Pipeline()
    pipeline.add_component("ranker", ranker)
    assert (
        Pipeline.loads(pipeline.dumps(), allowed_modules=["chronorag.*"]).get_component("ranker").to_dict()
        == data
    )


def test_invalid_init():
    with pytest.raises(ValueError):
        SemanticTemporalRanker(mode="fancy")
    with pytest.raises(ValueError):
        SemanticTemporalRanker(time_weight=1.0)
    with pytest.raises(ValueError):
        SemanticTemporalRanker(recency_weight=-0.1)
    with pytest.raises(ValueError):
        SemanticTemporalRanker(relevance_weights={"title": 1.0})
    for bad in ("some", -1, 2.5, True):
        with pytest.raises(ValueError, match="sentence_candidates"):
            SemanticTemporalRanker(sentence_candidates=bad)


def test_auto_sentence_candidates_score_sentences_only_where_the_ranking_reads_them():
    def resolved(**params) -> int | None:
        return SemanticTemporalRanker(cross_encoder=None, **params)._sentence_candidates

    assert resolved() == 0  # hybrid's default relevance weighs no sentence similarity
    assert resolved(relevance_weights={"question": 1.0, "sentence": 0.5}) == 10
    assert resolved(mode="semantic") == 10
    assert resolved(sentence_candidates=4) == 4 and resolved(sentence_candidates=None) is None
    ranker = SemanticTemporalRanker(cross_encoder=None)
    assert ranker.to_dict()["init_parameters"]["sentence_candidates"] == "auto"
    assert SemanticTemporalRanker.from_dict(ranker.to_dict())._sentence_candidates == 0


def test_run_auto_ranks_as_sentence_level_does_without_encoding_sentences(presidents, embedder):
    """The default skips the sentence level in hybrid mode because it cannot change the order."""
    passages = presidents + [
        doc(
            "Hillary Clinton was First Lady of the United States from 1993 to 2001. She later ran for "
            "the Senate. In 2000 she was elected senator for New York.",
            "Hillary Clinton",
            [("1993 to 2001", "1993-01-01", "2001-12-31"), ("2000", "2000-01-01", "2000-12-31")],
            doc_id="hillary",
        )
    ]
    default = SemanticTemporalRanker(top_k=5, cross_encoder=None, device="cpu")
    sentences = SemanticTemporalRanker(top_k=5, cross_encoder=None, device="cpu", sentence_candidates=10)
    default.scorer.clear_cache()
    first = default.run(PRESIDENT_Q, passages, in_1999())["documents"]
    # the two question texts and the three passages (given without stored embeddings), no sentence
    assert len(default.scorer._cache) == 2 + len(passages) and not default.scorer._cache_int8
    second = sentences.run(PRESIDENT_Q, passages, in_1999())["documents"]
    assert [d.id for d in first] == [d.id for d in second] and len(first) == 3
    assert [d.score for d in first] == pytest.approx([d.score for d in second])
    # what the sentence level adds: one sentence of a many-sentence passage as its matched sentence
    content = passages[2].content
    assert content in next(d for d in first if d.id == "hillary").meta["matched_sentence"]
    assert len(next(d for d in second if d.id == "hillary").meta["matched_sentence"]) < len(content)


def test_run_reuses_the_content_embedding_it_is_given(presidents, embedder):
    constraint = in_1999()
    ranker = SemanticTemporalRanker(top_k=5, cross_encoder=None, device="cpu")
    ranker.scorer.clear_cache()
    expected = ranker.run(PRESIDENT_Q, presidents, constraint)["documents"]
    vector = embedder.encode([constraint.content], normalize_embeddings=True)[0]
    ranker.scorer.clear_cache()
    given = ranker.run(PRESIDENT_Q, presidents, constraint, content_embedding=(vector * 3).tolist())
    assert [d.id for d in given["documents"]] == [d.id for d in expected]
    assert [d.score for d in given["documents"]] == pytest.approx([d.score for d in expected], abs=1e-5)
    # the given vector (scaled: normalised on the way in) is the one cached for the content
    assert ranker.scorer._cache[constraint.content] == pytest.approx(vector, abs=1e-6)
    ranker.scorer.clear_cache()
    ignored = ranker.run(PRESIDENT_Q, presidents, constraint, content_embedding=[1.0, 0.0, 0.0])
    assert [d.id for d in ignored["documents"]] == [d.id for d in expected]


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory, embedder) -> str:
    """A random-weight two-layer BERT CrossEncoder saved offline, with MiniLM's tokenizer."""
    from sentence_transformers import CrossEncoder
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from chronorag.models import resolve_embedding_model

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    tokenizer = AutoTokenizer.from_pretrained(resolve_embedding_model(), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CrossEncoder(str(folder), local_files_only=True).save(str(folder))
    return str(folder)


def test_run_cross_encoder_path(tiny_cross_encoder, presidents):
    ranker = SemanticTemporalRanker(cross_encoder=tiny_cross_encoder, device="cpu")
    ranker.warm_up()
    assert ranker.scorer.uses_cross_encoder
    ranked = ranker.run(PRESIDENT_Q, presidents, in_1999())["documents"]
    # Random logits go through a sigmoid: every score stays in [0, 1], and time still decides.
    assert all(0.0 <= d.meta["score_semantic"] <= 1.0 and 0.0 <= d.score <= 1.0 for d in ranked)
    assert ranked[0].id == "clinton"


def test_cross_encoder_from_environment(tiny_cross_encoder, monkeypatch):
    monkeypatch.setenv("CHRONORAG_CROSS_ENCODER", tiny_cross_encoder)
    ranker = SemanticTemporalRanker(device="cpu")
    ranker.warm_up()
    assert ranker.scorer.uses_cross_encoder


def test_run_passages_whose_spans_an_older_chronorag_read_are_noted() -> None:
    # A store indexed before the reading of time changed (no spans_version, or an older one): ranked as
    # stored, and the response says how to re-read them.
    from chronorag.temporal import decompose
    from chronorag.temporal.extractor import SPANS_VERSION

    question = "Who has been a FIDE Senior Trainer after 2015?"
    span = {"text": "2012", "char_start": 40, "char_end": 44, "start": "2012-01-01", "end": "2012-12-31"}
    old = Document(
        id="old", content="He has been a FIDE Senior Trainer since 2012", meta={"time_spans": [span]}
    )
    current = Document(
        id="new",
        content="He has been a FIDE Senior Trainer since 2012.",
        meta={"time_spans": [{**span, "end": None}], "spans_version": SPANS_VERSION},
    )
    constraint = decompose(question, as_of="2024-01-01")
    ranker = SemanticTemporalRanker(top_k=2)
    notes = ranker.run(query=question, documents=[old, current], constraint=constraint)["constraint"].notes
    assert any(
        note.startswith("1 of 2 candidate passages hold time spans an older chronorag read") for note in notes
    )
    fresh = ranker.run(query=question, documents=[current], constraint=constraint)
    assert not any("older chronorag" in note for note in fresh["constraint"].notes)
    # The open span (this version's reading) fits "after 2015"; the old closed one does not.
    ranked = ranker.run(query=question, documents=[old, current], constraint=constraint)["documents"]
    assert ranked[0].id == "new"
