# Two entry points: `make serve` and `make test`. Both set the environment up first and
# are fast to re-run: the venv is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
MODEL ?= all-minilm-l6-v2
# torch: the CPU wheel on machines without an NVIDIA GPU (here `torch==2.13.0` resolves to
# a local CPU file); on GPU machines the same pin resolves to the CUDA build from PyPI.
TORCH_SPEC ?= torch==2.13.0
comma := ,
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo 1)
EXTRAS := dev$(if $(HAS_GPU),$(comma)gpu-engines,)
PYTEST_ARGS ?=
# aiperf pins dependencies that conflict with truss, so it gets a venv of its own; the
# server tests call its CLI from there.
AIPERF_VENV ?= .venv-aiperf
AIPERF_STAMP := $(AIPERF_VENV)/.installed

.PHONY: setup serve test test-unit generate check-generated benchmark clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, so nothing that depends on it can drag in a CUDA build on a CPU machine.
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

$(AIPERF_STAMP):
	test -x $(AIPERF_VENV)/bin/python || $(PYTHON) -m venv $(AIPERF_VENV)
	$(AIPERF_VENV)/bin/python -m pip install -q --upgrade pip
	$(AIPERF_VENV)/bin/python -m pip install -q "aiperf==0.13.0"
	touch $(AIPERF_STAMP)

serve: $(STAMP)
	@echo "Serving $(MODEL) on http://$(HOST):$(PORT) once loaded. Try:"
	@echo "  curl -s http://$(HOST):$(PORT)/rerank -H 'Content-Type: application/json' -d '{\"query\":\"What is Deep Learning?\",\"texts\":[\"Deep Learning is not...\",\"Deep learning is a subset of machine learning...\",\"I like pizza\",\"The weather is nice today\"]}'"
	@echo "  curl -s http://$(HOST):$(PORT)/v2/rerank -H 'Content-Type: application/json' -d '{\"model\":\"$(MODEL)\",\"query\":\"What is Deep Learning?\",\"documents\":[\"Deep Learning is not...\",\"Deep learning is a subset of machine learning...\",\"I like pizza\",\"The weather is nice today\"]}'"
	$(VENV)/bin/rerank-bundle serve --model $(MODEL) --host $(HOST) --port $(PORT)

test: $(STAMP) $(AIPERF_STAMP)
	RERANK_BUNDLE_AIPERF=$(CURDIR)/$(AIPERF_VENV)/bin/aiperf $(PY) -m pytest -q $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

generate: $(STAMP)
	$(PY) scripts/generate_models.py

check-generated: $(STAMP)
	$(PY) scripts/generate_models.py --check

benchmark: $(STAMP)
	$(PY) scripts/benchmark.py

clean:
	rm -rf $(VENV) $(AIPERF_VENV) .pytest_cache build-artifacts
