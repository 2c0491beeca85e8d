"""ChronoTextEmbedder: the shared bi-encoder behind a serialisable Haystack component."""

from __future__ import annotations

import numpy as np
import pytest

from chronorag.pipeline.text_embedder import ChronoTextEmbedder


def test_to_dict_names_no_path_or_device():
    data = ChronoTextEmbedder().to_dict()
    assert data == {
        "type": "chronorag.pipeline.text_embedder.ChronoTextEmbedder",
        "init_parameters": {
            "model": "default",
            "device": "auto",
            "prefix": "",
            "suffix": "",
            "normalize_embeddings": True,
        },
    }


def test_from_dict_round_trips():
    embedder = ChronoTextEmbedder(prefix="query: ", normalize_embeddings=False)
    assert ChronoTextEmbedder.from_dict(embedder.to_dict()).to_dict() == embedder.to_dict()


def test_run_matches_the_shared_model(embedder):
    component = ChronoTextEmbedder(device="cpu")
    component.warm_up()
    vector = component.run("Who coached Chelsea in 2010?")["embedding"]
    assert len(vector) == 384 and all(isinstance(value, float) for value in vector)
    expected = embedder.encode(["Who coached Chelsea in 2010?"], normalize_embeddings=True)[0]
    assert np.allclose(vector, expected, atol=1e-5)
    assert component._encoder is embedder  # one MiniLM per process


def test_run_ranks_related_text_closer():
    component = ChronoTextEmbedder(device="cpu")
    query = np.array(component.run("Who managed Chelsea F.C.?")["embedding"])
    related = np.array(component.run("Carlo Ancelotti managed Chelsea from 2009 to 2011.")["embedding"])
    unrelated = np.array(component.run("Flour and sugar make a simple cake.")["embedding"])
    assert query @ related > query @ unrelated + 0.2


def test_run_applies_prefix(embedder):
    component = ChronoTextEmbedder(device="cpu", prefix="question: ")
    vector = component.run("Who?")["embedding"]
    assert np.allclose(vector, embedder.encode(["question: Who?"], normalize_embeddings=True)[0], atol=1e-5)


def test_run_rejects_a_list():
    with pytest.raises(TypeError, match="one string"):
        ChronoTextEmbedder(device="cpu").run(["a", "b"])
