"""LocalLLMGenerator on the embedded SmolLM2-135M-Instruct GGUF (real generation, loaded once)."""

from __future__ import annotations

import pytest

from chronorag.pipeline.errors import GeneratorError
from chronorag.pipeline.local_generator import LocalLLMGenerator


@pytest.fixture(scope="module")
def generator() -> LocalLLMGenerator:
    llm = LocalLLMGenerator(max_new_tokens=16)
    llm.warm_up()  # ~16 s: the GGUF is dequantised once per process and shared
    return llm


def test_to_dict_has_no_paths_or_devices():
    data = LocalLLMGenerator().to_dict()
    assert data["type"] == "chronorag.pipeline.local_generator.LocalLLMGenerator"
    params = data["init_parameters"]
    assert params["model"] == "default" and params["device"] == "auto" and params["backend"] == "auto"


def test_from_dict_round_trips():
    generator = LocalLLMGenerator(max_new_tokens=9, temperature=0.5, stop=["\n"], system_prompt=None)
    restored = LocalLLMGenerator.from_dict(generator.to_dict())
    assert restored.to_dict() == generator.to_dict()


def test_unknown_backend_is_rejected():
    with pytest.raises(GeneratorError, match="unknown backend") as info:
        LocalLLMGenerator(backend="onnx")
    assert info.value.reason == "config"


@pytest.mark.slow
def test_run_completes_a_short_prompt(generator):
    result = generator.run("What is the capital of France? Answer in one word.")
    reply = result["replies"][0]
    assert isinstance(reply, str) and reply.strip()
    assert "paris" in reply.lower()
    meta = result["meta"][0]
    assert meta["backend"] == "transformers" and 0 < meta["completion_tokens"] <= 16


@pytest.mark.slow
def test_run_is_deterministic_and_honours_the_budget(generator):
    first = generator.run("Name three colours.", max_new_tokens=6)
    second = generator.run("Name three colours.", max_new_tokens=6)
    assert first["replies"] == second["replies"]
    assert first["meta"][0]["completion_tokens"] <= 6


@pytest.mark.slow
def test_run_with_a_reply_prefix_continues_it(generator):
    reply = generator.run("Who managed Chelsea in 2010?", reply_prefix="Carlo Ancelotti", max_new_tokens=8)
    assert reply["replies"][0].startswith("Carlo Ancelotti")


@pytest.mark.slow
def test_stream_yields_pieces_of_the_same_reply(generator):
    prompt = "What is the capital of France? Answer in one word."
    pieces = list(generator.stream(prompt))
    assert len(pieces) >= 2
    assert "".join(pieces).strip().split("\n\n")[0] == generator.run(prompt)["replies"][0]


def test_missing_gguf_file_is_reported(tmp_path):
    from chronorag.models import ModelNotInstalledError

    with pytest.raises(ModelNotInstalledError, match="does not exist"):
        LocalLLMGenerator(model=str(tmp_path / "missing.gguf")).warm_up()
