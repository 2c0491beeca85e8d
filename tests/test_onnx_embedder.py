"""The fast CPU ingestion embedders (OpenVINO bf16, onnxruntime int8) against the real fp32 model."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx")

TEXTS = [
    "The council approved the bridge in 1995 after a long debate about its cost.",
    "Tomatoes need sun.",
    "Arsenal won the league in 2004 without losing a match, a season remembered as the Invincibles.",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One export cache for the module (the export takes a few seconds)."""
    path = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHRONORAG_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def fp32():
    from chronorag.indexers.ingest import sentence_transformer_embedder

    return sentence_transformer_embedder(device="cpu")


@pytest.fixture(scope="module")
def openvino(cache):
    pytest.importorskip("openvino")
    from chronorag.indexers.onnx_embedder import openvino_embedder

    return openvino_embedder(threads=1)


def test_openvino_embedder_matches_fp32(openvino, fp32, cache):
    embed, model_id, dim = openvino
    reference, fp32_id, fp32_dim = fp32
    assert (model_id, dim) == (fp32_id, fp32_dim)
    vectors = embed(TEXTS)
    assert vectors.shape == (3, dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # bf16 (or f32 on CPUs without bf16) stays in the fp32 model's space.
    assert (reference(TEXTS) * vectors).sum(axis=1).min() > 0.999
    # Batch composition and padding do not change a text's vector (texts are length-sorted inside).
    assert np.allclose(embed(TEXTS[::-1])[::-1], vectors, atol=2e-3)
    assert np.allclose(embed(TEXTS[1:2])[0], vectors[1], atol=2e-3)
    assert embed([]).shape == (0, dim)
    # The export is cached under a fingerprint of the model files and built once.
    assert len(list(cache.glob("onnx/all-MiniLM-L6-v2-*/model.onnx"))) == 1


@pytest.fixture(scope="module")
def openvino_int8(cache):
    pytest.importorskip("openvino")
    from chronorag.indexers.onnx_embedder import openvino_embedder, openvino_int8_supported

    if not openvino_int8_supported():
        pytest.skip("OpenVINO reports no int8 on this CPU, or nncf is missing")
    return openvino_embedder(precision="int8", threads=1)


def test_openvino_int8_embedder_stays_near_fp32_and_is_calibrated_once(openvino_int8, fp32, cache):
    from chronorag.indexers.onnx_embedder import calibration_texts, openvino_embedder

    embed, model_id, dim = openvino_int8
    reference, fp32_id, _ = fp32
    assert model_id == fp32_id
    vectors = embed(TEXTS)
    assert vectors.shape == (3, dim) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosine = (reference(TEXTS) * vectors).sum(axis=1)
    # Quantised, so not equal to fp32, but close (measured mean ~0.997 on news passages).
    assert cosine.min() > 0.98 and cosine.max() < 1.0 - 1e-6
    # The paraphrase stays nearest its own sentence, as with fp32.
    query = embed(["Which club went a whole league season unbeaten?"])[0]
    assert int(np.argmax(vectors @ query)) == 2
    # Calibrated on the shipped passages (original text, no evaluation data), quantised once and cached.
    assert len(calibration_texts()) >= 64
    (built,) = cache.glob("onnx/all-MiniLM-L6-v2-*/openvino_int8_v*.xml")
    assert built.with_suffix(".bin").stat().st_size > 1_000_000
    stamp = built.stat().st_mtime_ns
    again, _, _ = openvino_embedder(precision="int8", threads=1)
    assert built.stat().st_mtime_ns == stamp
    assert np.allclose(again(TEXTS), vectors, atol=2e-3)


def test_auto_falls_back_to_float_when_int8_calibration_fails(openvino_int8, tmp_path, monkeypatch):
    """--quantize auto must not fail on a model NNCF cannot quantise; an explicit int8 says why."""
    from chronorag.indexers import onnx_embedder

    monkeypatch.setenv("CHRONORAG_CACHE_DIR", str(tmp_path / "cache"))  # nothing cached: quantise again
    empty = tmp_path / "calibration.jsonl"
    empty.write_text("")
    monkeypatch.setattr(onnx_embedder, "CALIBRATION_FILE", empty)
    with pytest.raises(RuntimeError, match="no calibration passages"):
        onnx_embedder.ingestion_embedder("openvino", "int8", device="cpu")
    embed, _, dim, description = onnx_embedder.ingestion_embedder("openvino", "auto", device="cpu")
    assert description.startswith(("openvino bf16", "openvino f32"))
    assert embed(TEXTS).shape == (3, dim)
    assert not list((tmp_path / "cache").glob("onnx/*/openvino_int8_v*"))


def test_auto_backend_is_the_fast_one_and_options_are_checked(openvino, cache):
    from chronorag.indexers.onnx_embedder import best_cpu_backend, ingestion_embedder

    assert best_cpu_backend() == "openvino"
    _, model_id, dim, description = ingestion_embedder("auto", device="cpu")
    assert (model_id, dim) == ("all-MiniLM-L6-v2", 384)
    assert description.startswith("openvino ")
    *_, description = ingestion_embedder("openvino", "none", device="cpu", max_seq_length=128)
    assert description == "openvino f32, max 128 tokens"
    with pytest.raises(ValueError, match="int8, bf16 or f32"):
        ingestion_embedder("openvino", "fp16")
    with pytest.raises(ValueError, match="auto, none or int8"):
        ingestion_embedder("torch", "bf16")
    with pytest.raises(ValueError, match="backend must be"):
        ingestion_embedder("tensorflow")


def test_store_built_fast_answers_fp32_queries_and_keeps_its_model_identity(openvino, fp32, tmp_path):
    from chronorag.indexers import ChronoDocumentStore, StoreMismatchError
    from chronorag.indexers.ingest import ingest

    embed, model_id, dim = openvino
    reference, _, _ = fp32
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"id": str(i), "title": f"Item {i}", "text": text} for i, text in enumerate(TEXTS)]
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    store = ChronoDocumentStore(str(tmp_path / "s"), embedding_model=model_id, embedding_dim=dim)
    assert ingest([str(corpus)], store, embed, progress=False).passages_written == 3
    query = reference(["Which club went a whole league season unbeaten?"])[0]
    assert store.search(query, top_k=1)[0].id == "2#0"
    store.close()
    # The store records the model (not the backend): the fp32 torch embedder may add to it, another model not.
    ChronoDocumentStore(str(tmp_path / "s"), embedding_model="all-MiniLM-L6-v2", embedding_dim=384).close()
    with pytest.raises(StoreMismatchError):
        ChronoDocumentStore(str(tmp_path / "s"), embedding_model="another-model")


def test_cli_index_rejects_a_quantisation_the_backend_lacks(tmp_path):
    from typer.testing import CliRunner

    from chronorag import cli

    if not cli.app.registered_commands:
        cli._register_all()
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "The canal opened in 1825."}) + "\n")
    result = CliRunner().invoke(
        cli.app, ["index", str(corpus), "-s", str(tmp_path / "s"), "--backend", "torch", "--quantize", "bf16"]
    )
    assert result.exit_code == 2 and "auto, none or int8" in result.output
