"""SemanticScorer with the real MiniLM: the sentence budget (what a cold call encodes) and the int8 copy
used for sentences in hybrid mode."""

from __future__ import annotations

import numpy as np
import pytest
from haystack import Document

from chronorag.rankers.semantic_scoring import SemanticScorer
from chronorag.rankers.semantic_temporal_ranker import SemanticTemporalRanker

QUERY = "Which club did Ronaldo play for?"


@pytest.fixture(scope="module")
def scorer(embedder) -> SemanticScorer:
    scorer = SemanticScorer(cross_encoder=None, device="cpu")
    scorer.warm_up()
    return scorer


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    def passage(title: str, *sentences: str) -> Document:
        return Document(id=title, content=" ".join(sentences), meta={"title": title})

    return [
        passage(
            "Cristiano Ronaldo",
            "He was born in Funchal, Madeira.",
            "Ronaldo began his senior career with Sporting CP.",
            "He signed for Manchester United in 2003.",
            "He enjoys playing golf in summer.",
        ),
        passage(
            "Lisbon",
            "Lisbon is the capital of Portugal.",
            "The city lies on the Tagus estuary.",
            "Its trams climb the steep hills.",
        ),
        passage(
            "Football",
            "Football is played by two teams of eleven players.",
            "A match lasts ninety minutes.",
        ),
    ]


def test_budget_bounds_the_sentences_encoded_and_keeps_one_per_passage(scorer, documents):
    scorer.clear_cache()
    evidence = scorer.score(QUERY, documents, sentence_candidates=None, sentence_budget=4)
    # The question, the three passages (no stored embeddings here) and four sentences, nothing else.
    assert len(scorer._cache) == 1 + 3 + 4
    assert all(len(item.sentences) >= 1 for item in evidence)
    assert sum(len(item.sentences) for item in evidence) == 4
    # The lexically best sentence of the relevant passage is among them, and it is the best match.
    best = evidence[0].sentences[evidence[0].best_sentence]
    assert "Ronaldo" in best.split(". ", 1)[1]
    assert evidence[0].score == max(item.score for item in evidence)
    for item in evidence:
        assert 0.0 <= item.score <= 1.0


def test_no_budget_encodes_every_sentence(scorer, documents):
    scorer.clear_cache()
    evidence = scorer.score(QUERY, documents, sentence_candidates=None, sentence_budget=None)
    assert [len(item.sentences) for item in evidence] == [4, 3, 2]
    assert len(scorer._cache) == 1 + 3 + 9


def test_int8_sentences_stay_close_to_fp32_and_are_cached_apart(scorer, documents):
    sentences = [s for doc in documents for s in scorer._sentences(doc)]
    scorer.clear_cache()
    full = scorer.encode(sentences)
    if not scorer.warm_up_int8():
        pytest.skip("int8 sentences need the CPU")
    quantised = scorer.encode(sentences, int8=True)
    cosines = (full * quantised).sum(axis=1)
    assert cosines.min() > 0.95
    assert not np.allclose(full, quantised)
    assert len(scorer._cache) == len(sentences) == len(scorer._cache_int8)
    # The same ranking of the obviously relevant passage either way.
    fp32 = scorer.score(QUERY, documents, None, None, int8_sentences=False)
    int8 = scorer.score(QUERY, documents, None, None, int8_sentences=True)
    assert np.argmax([e.score for e in fp32]) == np.argmax([e.score for e in int8]) == 0


def test_int8_only_in_hybrid_mode_by_default(embedder):
    assert SemanticTemporalRanker(cross_encoder=None)._int8
    assert not SemanticTemporalRanker(mode="semantic", cross_encoder=None)._int8
    assert not SemanticTemporalRanker(mode="mrag", cross_encoder=None, sentence_int8=True)._int8
    assert not SemanticTemporalRanker(cross_encoder=None, sentence_int8=False)._int8
    assert SemanticTemporalRanker(mode="semantic", cross_encoder=None, sentence_int8=True)._int8


def test_remember_keeps_an_embedding_made_elsewhere_normalised(embedder):
    scorer = SemanticScorer(cross_encoder=None, device="cpu")
    vector = embedder.encode(["Who coached Chelsea?"], normalize_embeddings=True)[0]
    assert scorer.remember("Who coached Chelsea?", (vector * 2).tolist())
    assert scorer.encode(["Who coached Chelsea?"])[0] == pytest.approx(vector, abs=1e-6)
    assert len(scorer._cache) == 1  # nothing was encoded: the remembered vector was returned
    assert not scorer.remember("wrong size", [1.0, 0.0])
    assert not scorer.remember("all zeros", [0.0] * len(vector))
    assert not scorer.remember("", vector.tolist())
    assert set(scorer._cache) == {"Who coached Chelsea?"}
