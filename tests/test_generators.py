"""LocalLLMGenerator with real generation: llama.cpp (the default backend) on the packaged SmolLM2-135M and
the default Qwen2.5-Coder GGUF, and the transformers fallback on SmolLM2; one thread, models loaded once."""

from __future__ import annotations

import pytest

from chronorag.models import DEFAULT_LLM
from chronorag.pipeline.errors import GeneratorError
from chronorag.pipeline.local_generator import LocalLLMGenerator, _preamble_length, chat_messages

PASSAGE_PROMPT = (
    "Passages:\n[1] Chelsea F.C.: Carlo Ancelotti managed Chelsea from 2009 to 2011; Andre Villas-Boas "
    "succeeded him in June 2011.\n\nQuestion: Who managed Chelsea in 2010?"
)


@pytest.fixture(scope="module")
def generator() -> LocalLLMGenerator:
    llm = LocalLLMGenerator(model="smollm2-135m", backend="transformers", max_new_tokens=16)
    llm.warm_up()  # ~16 s: the GGUF is dequantised once per process and shared
    return llm


@pytest.fixture(scope="module")
def llama() -> LocalLLMGenerator:
    llm = LocalLLMGenerator(model="smollm2-135m", backend="llama_cpp", n_threads=1, max_new_tokens=16)
    llm.warm_up()  # memory-mapped: well under a second
    return llm


@pytest.fixture(scope="module")
def default_llm() -> LocalLLMGenerator:
    llm = LocalLLMGenerator(n_threads=1, max_new_tokens=24)
    llm.warm_up()
    return llm


def test_to_dict_has_no_paths_or_devices():
    data = LocalLLMGenerator().to_dict()
    assert data["type"] == "chronorag.pipeline.local_generator.LocalLLMGenerator"
    params = data["init_parameters"]
    assert params["model"] == "default" and params["device"] == "auto" and params["backend"] == "auto"
    assert params["n_threads"] is None and params["n_ctx"] == 2048 and params["flash_attn"] is True
    assert params["cache_preamble"] is True


def test_from_dict_round_trips():
    generator = LocalLLMGenerator(
        model="smollm2-135m", max_new_tokens=9, temperature=0.5, stop=["\n"], system_prompt=None, n_threads=2
    )
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


def test_llama_cpp_is_the_default_backend():
    generator = LocalLLMGenerator(model="smollm2-135m", n_threads=1)
    assert generator._backend_used is None  # nothing loads before warm_up
    generator.warm_up()
    assert generator._backend_used == "llama_cpp"


def test_llama_cpp_run_is_deterministic_across_calls(llama):
    first = llama.run(PASSAGE_PROMPT)
    llama.run("What is the capital of France?")  # another prompt in between must not change the reply
    second = llama.run(PASSAGE_PROMPT)
    assert first["replies"] == second["replies"] and first["replies"][0]
    meta = first["meta"][0]
    assert meta["backend"] == "llama_cpp" and meta["model"] == "smollm2-135m"
    assert 0 < meta["completion_tokens"] <= 16 and meta["prompt_tokens"] > 20


def test_llama_cpp_reuses_the_preamble_cache_without_changing_replies(llama):
    preamble = "Today is 2011-06-30.\n\n"
    asked = [
        preamble + PASSAGE_PROMPT,
        preamble + PASSAGE_PROMPT.replace("in 2010", "in 2012"),
        preamble + "Passages:\n[1] Paris: Paris is the capital of France.\n\nQuestion: What is the capital?",
    ]
    first = [llama.run(prompt)["replies"][0] for prompt in asked]
    cached_head = _cached_tokens(llama)
    # The preamble (system turn and first paragraph) stays evaluated; the rest of the last prompt is not kept.
    assert llama._loaded.tokenize(b"2011-06-30", add_bos=False)[-1] in cached_head
    assert llama._loaded.tokenize(b"Paris", add_bos=False)[0] not in cached_head
    again = [llama.run(prompt)["replies"][0] for prompt in reversed(asked)][::-1]
    assert again == first and all(first)
    # Another system turn shares the loaded model: its preamble replaces the cached one, and back.
    other = LocalLLMGenerator(
        model="smollm2-135m",
        backend="llama_cpp",
        n_threads=1,
        max_new_tokens=16,
        system_prompt="Answer in one word.",
    )
    other.warm_up()
    assert other._loaded is llama._loaded
    other.run(asked[0])
    assert _cached_tokens(llama) != cached_head
    assert llama.run(asked[0])["replies"][0] == first[0]


def _cached_tokens(llm: LocalLLMGenerator) -> list[int]:
    return [token for piece in llm._loaded._chronorag_preamble for token in piece]


WORKED = [
    {
        "prompt": "Today is 2024-03-01.\n\nPassages:\n[1] Riverton: Tom Hale was mayor from 2016 to 2022.\n\n"
        "Question: Who was mayor in 2019?",
        "reply": "Tom Hale",
    }
]


def test_llama_cpp_worked_examples_are_earlier_turns_cached_across_dates(llama):
    def ask(day: str) -> str:
        return llama.run(f"Today is {day}.\n\n" + PASSAGE_PROMPT, examples=WORKED)["replies"][0]

    first = ask("2011-06-30")
    fixed = llama._loaded._chronorag_preamble[0]
    # The example's turns sit in the fixed piece of the cache, before the prompt's date.
    fixed_text = llama._loaded.detokenize(fixed).decode("utf-8", "ignore")
    assert "Riverton" in fixed_text and "Tom Hale" in fixed_text and "2011-06-30" not in fixed_text
    assert "2011-06-30" in llama._loaded.detokenize(llama._loaded._chronorag_preamble[1]).decode()
    other_day = ask("2012-01-15")
    # A new date re-evaluates only its own paragraph: the fixed turns' piece is the one kept.
    assert llama._loaded._chronorag_preamble[0] is fixed
    assert ask("2011-06-30") == first and other_day
    without = llama.run("Today is 2011-06-30.\n\n" + PASSAGE_PROMPT)["replies"][0]
    assert without  # the turns changed: the cache is rebuilt, and a reply still comes
    assert ask("2011-06-30") == first


def test_chat_messages_put_worked_examples_between_system_and_prompt():
    messages = chat_messages("Be brief.", "Question: y", WORKED)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "Tom Hale" and messages[-1]["content"] == "Question: y"
    assert chat_messages(None, "q") == [{"role": "user", "content": "q"}]
    with pytest.raises(ValueError, match="worked example"):
        chat_messages(None, "q", [{"prompt": "p"}])


def test_llama_cpp_without_preamble_cache_evaluates_every_prompt_whole(llama):
    whole = LocalLLMGenerator(
        model="smollm2-135m", backend="llama_cpp", n_threads=1, max_new_tokens=16, cache_preamble=False
    )
    whole.warm_up()
    reply = whole.run(PASSAGE_PROMPT)["replies"][0]
    assert reply and whole._loaded._chronorag_preamble is None
    assert whole.run("What is the capital of France?")["replies"][0]
    assert whole.run(PASSAGE_PROMPT)["replies"][0] == reply


def test_preamble_ends_after_the_prompts_first_blank_line():
    text = "<|system|>Be brief.<|user|>Today is 2024.\n\nPassages: x\n\nQuestion: y<|assistant|>"
    prompt = "Today is 2024.\n\nPassages: x\n\nQuestion: y"
    turns_end, preamble_end = _preamble_length(text, prompt)
    assert text[:turns_end].endswith("<|user|>") and text[turns_end:preamble_end] == "Today is 2024.\n\n"
    assert _preamble_length(text, "Question: y") == (0, 0)  # no blank line: nothing is cached
    assert _preamble_length(text, "not in the text\n\nat all") == (0, 0)


def test_llama_cpp_stream_is_the_reply_in_pieces(llama):
    pieces = list(llama.stream(PASSAGE_PROMPT))
    assert len(pieces) >= 2
    assert "".join(pieces).strip() == llama.run(PASSAGE_PROMPT)["replies"][0]


def test_llama_cpp_continues_a_reply_prefix(llama):
    result = llama.run(PASSAGE_PROMPT, reply_prefix="Carlo Ancelotti", max_new_tokens=6)
    assert result["replies"][0].startswith("Carlo Ancelotti")
    assert result["meta"][0]["completion_tokens"] <= 6
    pieces = list(llama.stream(PASSAGE_PROMPT, reply_prefix="Carlo Ancelotti", max_new_tokens=6))
    assert pieces[0] == "Carlo Ancelotti"


def test_llama_cpp_cuts_a_prompt_longer_than_its_context():
    small = LocalLLMGenerator(model="smollm2-135m", n_threads=1, n_ctx=256, max_new_tokens=8)
    filler = "The weather report said nothing of note. " * 120  # ~1,000 tokens
    result = small.run(filler + "\nQuestion: What is the capital of France?")
    assert result["meta"][0]["prompt_tokens"] <= 256 - 8
    assert result["replies"][0]


def test_default_llm_reads_the_passage(default_llm):
    prompt = (
        "Passage: Carlo Ancelotti managed Chelsea from 2009 to 2011. Andre Villas-Boas succeeded him in "
        "2011.\n\nQuestion: Who managed Chelsea in 2010?"
    )
    result = default_llm.run(prompt)
    assert "ancelotti" in result["replies"][0].lower()
    assert result["meta"][0]["model"] == DEFAULT_LLM
