"""``LocalLLMGenerator``: a packaged GGUF LLM (the default: ``chronorag.models.DEFAULT_LLM``), offline,
on llama.cpp (``llama-cpp-python``) or, where that is not installed, transformers."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from haystack import component, default_from_dict, default_to_dict

from chronorag.models import configure_threads, llm_model_name, resolve_device, resolve_llm_gguf
from chronorag.pipeline.errors import GeneratorError

logger = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = "You answer questions from the given passages in one short sentence."
BACKENDS = ("auto", "transformers", "llama_cpp")
Examples = list[dict[str, str]] | None

# One loaded model per (backend, file, device, threads, context) and process: loading takes seconds, and
# the pipeline, the evidence summariser and the tests must not pay it twice. A llama.cpp context serves one
# generation at a time, so each loaded model comes with its own lock.
_MODELS: dict[tuple[Any, ...], tuple[Any, threading.Lock]] = {}
_MODELS_LOCK = threading.Lock()


def _pick_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise GeneratorError(
            f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}", reason="config"
        )
    if backend == "auto":
        return "llama_cpp" if importlib.util.find_spec("llama_cpp") is not None else "transformers"
    return backend


def llama_threads(n_threads: int | None = None) -> int:
    """The llama.cpp thread count: the given one, else ``CHRONORAG_NUM_THREADS``, else every core.

    :param n_threads: an explicit count, or ``None``.
    :returns: a positive thread count.
    """
    value = n_threads or int(os.environ.get("CHRONORAG_NUM_THREADS", "0") or 0)
    return value if value > 0 else max(os.cpu_count() or 1, 1)


def _load_transformers(path: str, device: str, n_threads: int, n_ctx: int, flash_attn: bool) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(path)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # float32: the GGUF is dequantised on load, and CPU matmuls are fastest in float32.
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.to(device)
    model.eval()
    return tokenizer, model


def _load_llama_cpp(path: str, device: str, n_threads: int, n_ctx: int, flash_attn: bool) -> Any:
    from llama_cpp import Llama

    gpu_layers = -1 if device.startswith("cuda") else 0
    # use_mmap: the weights stay in the page cache, shared by every worker process on the machine.
    return Llama(
        model_path=str(path),
        n_ctx=n_ctx,
        n_batch=min(512, n_ctx),
        n_threads=n_threads,
        n_threads_batch=n_threads,
        n_gpu_layers=gpu_layers,
        use_mmap=True,
        flash_attn=flash_attn,
        verbose=False,
    )


def _close_models() -> None:
    """Free the shared llama.cpp models before the interpreter tears its modules down: freed later, in
    ``Llama.__del__``, llama-cpp-python calls into an already unloaded library and prints a traceback."""
    with _MODELS_LOCK:
        for model, _ in _MODELS.values():
            close = getattr(model, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        _MODELS.clear()


atexit.register(_close_models)


def _get_model(
    backend: str, path: str, device: str, n_threads: int, n_ctx: int, flash_attn: bool
) -> tuple[Any, threading.Lock]:
    key = (backend, path, device, n_threads, n_ctx, flash_attn)
    with _MODELS_LOCK:
        if key not in _MODELS:
            started = time.perf_counter()
            loader = _load_llama_cpp if backend == "llama_cpp" else _load_transformers
            try:
                _MODELS[key] = (loader(path, device, n_threads, n_ctx, flash_attn), threading.Lock())
            except (OSError, ValueError, RuntimeError) as exc:
                raise GeneratorError(f"could not load the LLM {path}: {exc}", reason="model") from exc
            logger.info(
                "loaded LLM %s (%s, %s) in %.1f s", path, backend, device, time.perf_counter() - started
            )
        return _MODELS[key]


@component
class LocalLLMGenerator:
    """
    Generates a reply with a local GGUF LLM: llama.cpp when `llama-cpp-python` is installed, else
    transformers (which dequantises the GGUF to float32: slower and several times the memory).

    The model file comes from `chronorag.models.resolve_llm_gguf` (`"default"` = `CHRONORAG_LLM_GGUF` or
    the packaged default LLM; or a packaged model's name such as `"smollm2-135m"`), so nothing
    machine-specific is serialised. Decoding is greedy by default so that answers are reproducible.

    ### Usage example

    ```python
    generator = LocalLLMGenerator(max_new_tokens=20)
    generator.warm_up()
    print(generator.run("Name a primary colour.")["replies"][0])
    ```
    """

    def __init__(
        self,
        model: str = "default",
        backend: str = "auto",
        device: str = "auto",
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        repetition_penalty: float = 1.1,
        max_input_tokens: int = 1536,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        stop: list[str] | None = None,
        n_threads: int | None = None,
        n_ctx: int = 2048,
        flash_attn: bool = True,
        cache_preamble: bool = True,
    ) -> None:
        """
        Create the generator; the model loads in `warm_up`.

        :param model: `"default"` (`CHRONORAG_LLM_GGUF` or the packaged default LLM), a packaged model's
            name (`chronorag.models.LLM_MODELS`) or a GGUF file path.
        :param backend: `"auto"` (llama-cpp when importable, else transformers), `"transformers"`
            or `"llama_cpp"`.
        :param device: torch device, or `"auto"` to pick one at warm-up.
        :param max_new_tokens: the reply's token budget.
        :param temperature: 0 for greedy decoding, else sampling temperature.
        :param repetition_penalty: >1 discourages the small model's loops.
        :param max_input_tokens: longer prompts keep their last tokens (the question comes last).
        :param system_prompt: the system message, or `None` for none.
        :param stop: strings that end the reply (default: a blank line, where the small model starts
            rambling).
        :param n_threads: llama.cpp threads; `None`: `CHRONORAG_NUM_THREADS`, else every core.
        :param n_ctx: llama.cpp context length in tokens (prompt and reply); the prompt is cut to fit.
        :param flash_attn: llama.cpp's fused attention (less memory, faster prefill on CPUs).
        :param cache_preamble: llama.cpp: evaluate the prompt's preamble (the turns before the prompt:
            system and worked examples; then the user prompt's first paragraph, up to its first blank line)
            once, in those two pieces, and reuse their KV cache while they stay the same; each prompt token
            costs ~13 ms on two CPU threads.
        """
        _pick_backend(backend)
        self.model = model
        self.backend = backend
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.repetition_penalty = repetition_penalty
        self.max_input_tokens = max_input_tokens
        self.system_prompt = system_prompt
        self.stop = ["\n\n"] if stop is None else list(stop)
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.flash_attn = flash_attn
        self.cache_preamble = cache_preamble
        self._loaded: Any = None
        self._model_lock = threading.Lock()
        self._backend_used: str | None = None

    def warm_up(self) -> None:
        """Resolve the GGUF file (joining a packaged model's parts once) and device, and load (or reuse)
        the model."""
        if self._loaded is not None:
            return
        configure_threads()
        path = str(resolve_llm_gguf(self.model))
        self._backend_used = _pick_backend(self.backend)
        self._loaded, self._model_lock = _get_model(
            self._backend_used,
            path,
            resolve_device(self.device),
            llama_threads(self.n_threads),
            self.n_ctx,
            self.flash_attn,
        )

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters (no resolved paths or devices).
        """
        return default_to_dict(
            self,
            model=self.model,
            backend=self.backend,
            device=self.device,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            repetition_penalty=self.repetition_penalty,
            max_input_tokens=self.max_input_tokens,
            system_prompt=self.system_prompt,
            stop=self.stop,
            n_threads=self.n_threads,
            n_ctx=self.n_ctx,
            flash_attn=self.flash_attn,
            cache_preamble=self.cache_preamble,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocalLLMGenerator:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    @component.output_types(replies=list[str], meta=list[dict[str, Any]])
    def run(
        self,
        prompt: str,
        max_new_tokens: int | None = None,
        reply_prefix: str | None = None,
        examples: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """
        Generate one reply.

        :param prompt: the user message.
        :param max_new_tokens: overrides the configured token budget for this call.
        :param reply_prefix: text the reply must start with (the assistant turn is pre-filled with it and
            the model continues it): how the pipeline makes the small model phrase the code-chosen answer.
        :param examples: worked examples (`{prompt, reply}`, from `TemporalPromptBuilder`), put before the
            prompt as earlier user and assistant turns (few-shot).
        :returns: `replies` (one string, starting with `reply_prefix`) and `meta` (model, backend, token
            counts, finish reason).
        """
        self.warm_up()
        budget = max_new_tokens or self.max_new_tokens
        prefix = reply_prefix or ""
        if self._backend_used == "llama_cpp":
            reply, meta = self._run_llama_cpp(prompt, budget, prefix, examples)
        else:
            reply, meta = self._run_transformers(prompt, budget, prefix, examples)
        reply = prefix + reply
        for stop in self.stop:
            reply = reply.split(stop, 1)[0]  # transformers keeps the stop string; callers want it cut
        return {"replies": [reply.strip()], "meta": [meta]}

    def stream(
        self,
        prompt: str,
        max_new_tokens: int | None = None,
        reply_prefix: str | None = None,
        examples: list[dict[str, str]] | None = None,
    ) -> Iterator[str]:
        """
        Generate one reply piece by piece.

        :param prompt: the user message.
        :param max_new_tokens: overrides the configured token budget for this call.
        :param reply_prefix: text the reply starts with (yielded first), as in `run`.
        :param examples: worked examples before the prompt, as in `run`.
        :returns: an iterator of text pieces whose concatenation is the reply.
        """
        self.warm_up()
        budget = max_new_tokens or self.max_new_tokens
        prefix = reply_prefix or ""
        if prefix:
            yield prefix
        if self._backend_used == "llama_cpp":
            yield from self._stream_llama_cpp(prompt, budget, prefix, examples)
            return
        yield from self._stream_transformers(prompt, budget, prefix, examples)

    # --- backends -------------------------------------------------------------------------------
    def _messages(self, prompt: str, examples: Examples = None) -> list[dict[str, str]]:
        return chat_messages(self.system_prompt, prompt, examples)

    def _encode(self, prompt: str, prefix: str, examples: Examples = None) -> dict[str, Any]:
        tokenizer, model = self._loaded
        text = tokenizer.apply_chat_template(
            self._messages(prompt, examples), add_generation_prompt=True, tokenize=False
        )
        # The chat template already holds the special tokens; the prefix continues the assistant turn.
        encoded = tokenizer(text + prefix, return_tensors="pt", add_special_tokens=False)
        if encoded["input_ids"].shape[1] > self.max_input_tokens:
            logger.warning("prompt truncated to its last %d tokens", self.max_input_tokens)
        keep = slice(-self.max_input_tokens, None)
        return {
            "input_ids": encoded["input_ids"][:, keep].to(model.device),
            "attention_mask": encoded["attention_mask"][:, keep].to(model.device),
        }

    def _generation_kwargs(self, budget: int) -> dict[str, Any]:
        tokenizer, _ = self._loaded
        kwargs: dict[str, Any] = {
            "max_new_tokens": budget,
            "repetition_penalty": self.repetition_penalty,
            "pad_token_id": tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None
            else tokenizer.eos_token_id,
        }
        if self.stop:
            kwargs.update(stop_strings=self.stop, tokenizer=tokenizer)
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature)
        else:
            # Explicit None values silence the model's sampling defaults under greedy decoding.
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def _run_transformers(
        self, prompt: str, budget: int, prefix: str, examples: Examples = None
    ) -> tuple[str, dict[str, Any]]:
        import torch

        tokenizer, model = self._loaded
        inputs = self._encode(prompt, prefix, examples)
        with torch.inference_mode():
            output = model.generate(**inputs, **self._generation_kwargs(budget))
        new_tokens = output[0, inputs["input_ids"].shape[1] :]
        finished = bool(len(new_tokens)) and int(new_tokens[-1]) == tokenizer.eos_token_id
        meta = {
            "model": llm_model_name(self.model),
            "backend": "transformers",
            "prompt_tokens": int(inputs["input_ids"].shape[1]),
            "completion_tokens": int(len(new_tokens)),
            "finish_reason": "stop" if finished or len(new_tokens) < budget else "length",
        }
        return tokenizer.decode(new_tokens, skip_special_tokens=True), meta

    def _stream_transformers(
        self, prompt: str, budget: int, prefix: str, examples: Examples = None
    ) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        tokenizer, model = self._loaded
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
        inputs = self._encode(prompt, prefix, examples)

        def generate() -> None:
            with torch.inference_mode():
                model.generate(**inputs, **self._generation_kwargs(budget), streamer=streamer)

        worker = threading.Thread(target=generate, name="chronorag-llm-stream", daemon=True)
        worker.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            worker.join()

    def _llama_cpp_prompt(
        self, prompt: str, prefix: str, budget: int, examples: Examples = None
    ) -> tuple[str, list[str], tuple[int, int]]:
        """The prompt in the GGUF's own chat template with the assistant turn pre-filled, its stop strings
        and the length of its preamble (the text up to the end of the user prompt's first paragraph; 0 when
        there is none); a prompt too long for the context keeps its last tokens (the question comes last)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self._loaded
        formatter = Jinja2ChatFormatter(
            template=llm.metadata["tokenizer.chat_template"],
            eos_token=llm.detokenize([llm.token_eos()]).decode("utf-8", "ignore"),
            bos_token=llm.detokenize([llm.token_bos()]).decode("utf-8", "ignore"),
        )
        formatted = formatter(messages=self._messages(prompt, examples))
        text = formatted.prompt + prefix
        room = min(self.max_input_tokens, self.n_ctx - budget)
        excess = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) - room
        if excess > 0:
            logger.warning("prompt cut by %d tokens to fit the %d-token context", excess, self.n_ctx)
            tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False)
            prompt = llm.detokenize(tokens[min(excess, len(tokens)) :]).decode("utf-8", "ignore")
            text = formatter(messages=self._messages(prompt, examples)).prompt + prefix
        stops = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop]
        # The end-of-turn token ends generation by itself; an empty stop string would end it at once.
        return text, [stop for stop in [*stops, *self.stop] if stop], _preamble_length(text, prompt)

    def _prompt_tokens(self, text: str, preamble: tuple[int, int]) -> list[int]:
        """The prompt's tokens, with the model's KV cache holding exactly its preamble, evaluated in fixed
        pieces.

        Left alone, llama.cpp would reuse whatever prefix the previous prompt shares with this one, and a
        greedy reply would then change with what was asked before. The preamble is evaluated in two pieces,
        each always by itself: the turns before the user prompt (the system turn and the worked examples,
        fixed), then the user prompt's first paragraph ("Today is <date>."); the rest of every prompt is
        evaluated on top of them. So a prompt's reply does not depend on the prompts before it, the fixed
        turns are evaluated once, and a new date costs only its own paragraph.
        """
        llm = self._loaded
        bos = [llm.token_bos()] if llm._model.add_bos_token() and llm.token_bos() != -1 else []
        turns_end, preamble_end = preamble if self.cache_preamble else (0, 0)
        pieces = [
            bos + llm.tokenize(text[:turns_end].encode("utf-8"), add_bos=False, special=True),
            llm.tokenize(text[turns_end:preamble_end].encode("utf-8"), add_bos=False, special=True),
        ]
        tail = llm.tokenize(text[preamble_end:].encode("utf-8"), add_bos=False, special=True)
        head = pieces[0] + pieces[1]
        if not preamble_end:
            llm.reset()
            llm._chronorag_preamble = None
            return head + tail
        cached = getattr(llm, "_chronorag_preamble", None) or []
        # How many leading pieces the KV cache already holds, each evaluated alone after the ones before.
        kept = 0
        while kept < len(pieces) and kept < len(cached) and cached[kept] == pieces[kept]:
            kept += 1
        held = sum(len(piece) for piece in pieces[:kept])
        if kept == 0 or llm.n_tokens < held:
            llm.reset()
            kept, held = 0, 0
        llm.n_tokens = held
        llm._chronorag_preamble = cached[:kept]
        for piece in pieces[kept:]:
            if piece:
                llm.eval(piece)
            llm._chronorag_preamble = [*llm._chronorag_preamble, piece]
        # generate() then matches the preamble and no further: the rest is evaluated anew.
        return head + tail

    def _llama_cpp_completion(
        self, prompt: str, budget: int, prefix: str, stream: bool, examples: Examples = None
    ) -> Any:
        text, stops, preamble = self._llama_cpp_prompt(prompt, prefix, budget, examples)
        return self._loaded.create_completion(
            prompt=self._prompt_tokens(text, preamble),
            max_tokens=budget,
            temperature=self.temperature,
            repeat_penalty=self.repetition_penalty,
            stop=stops,
            stream=stream,
        )

    def _run_llama_cpp(
        self, prompt: str, budget: int, prefix: str, examples: Examples = None
    ) -> tuple[str, dict[str, Any]]:
        with self._model_lock, _llama_errors(self.model):
            result = self._llama_cpp_completion(prompt, budget, prefix, stream=False, examples=examples)
        choice = result["choices"][0]
        usage = result.get("usage", {})
        meta = {
            "model": llm_model_name(self.model),
            "backend": "llama_cpp",
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "finish_reason": choice.get("finish_reason"),
        }
        return choice.get("text") or "", meta

    def _stream_llama_cpp(
        self, prompt: str, budget: int, prefix: str, examples: Examples = None
    ) -> Iterator[str]:
        # The lock is held until the stream ends or its consumer closes it (a client that hangs up).
        with self._model_lock, _llama_errors(self.model):
            for chunk in self._llama_cpp_completion(prompt, budget, prefix, stream=True, examples=examples):
                piece = chunk["choices"][0].get("text")
                if piece:
                    yield piece


def chat_messages(system_prompt: str | None, prompt: str, examples: Examples = None) -> list[dict[str, str]]:
    """
    The chat turns of one question: the system turn, each worked example as a user turn and the
    assistant's reply, then the prompt.

    :param system_prompt: the system message, or `None`.
    :param prompt: the user prompt.
    :param examples: worked examples, each `{prompt, reply}`.
    :returns: the messages.
    :raises ValueError: for an example without a string `prompt` and `reply`.
    """
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    for example in examples or []:
        if not isinstance(example.get("prompt"), str) or not isinstance(example.get("reply"), str):
            raise ValueError("a worked example needs a string 'prompt' and 'reply'")
        messages += [
            {"role": "user", "content": example["prompt"]},
            {"role": "assistant", "content": example["reply"]},
        ]
    return [*messages, {"role": "user", "content": prompt}]


def _preamble_length(text: str, prompt: str) -> tuple[int, int]:
    """Where the turns before the user prompt end in a formatted chat prompt (at the prompt's own start),
    and where its preamble ends: after the user prompt's first blank line (`(0, 0)` when the prompt has
    none or does not appear whole in the text)."""
    start, blank = text.rfind(prompt), prompt.find("\n\n")
    if start < 0 or blank < 0:
        return 0, 0
    # The user turn's own header ("<|im_start|>user") stays with the fixed turns' piece: it never changes.
    return start, start + blank + 2


@contextmanager
def _llama_errors(model: str) -> Iterator[None]:
    """llama.cpp's failures (context overflow, decode errors) as `GeneratorError`s the REST layer maps."""
    try:
        yield
    except (ValueError, RuntimeError) as exc:
        raise GeneratorError(f"the LLM {llm_model_name(model)} failed: {exc}", reason="model") from exc
