# tailor: `make demo` builds and starts the assistant; `make test` runs every test tier.
# Every step is idempotent: a stamp file re-runs a step only when its inputs changed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY311 := $(shell scripts/find_python.sh 3.11)
PY310 := $(shell scripts/find_python.sh 3.10)
VENV := .venv
RASA_VENV := .venv-rasa
PY := $(VENV)/bin/python
TAILOR := $(VENV)/bin/tailor
BUILD := build/demo
DEMO_SIZE ?= 3000
DEMO_SEED ?= 0
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup demo test lint pytest clean

help:
	@echo "make demo   set up, build the demo catalog and models, start the assistant"
	@echo "make test   set up, then ruff + the whole test suite"

# --- environments ---------------------------------------------------------------------------
setup: $(VENV)/.stamp $(RASA_VENV)/.stamp .stamps/system

$(VENV)/.stamp: requirements/engine.lock requirements/actions-nodeps.txt pyproject.toml scripts/dgl_graphbolt_stub.py
	@test -x $(PY) || $(PY311) -m venv $(VENV)
	$(PY) -m pip install -q --no-deps -r requirements/engine.lock
	$(PY) -m pip install -q --no-deps --ignore-requires-python -r requirements/actions-nodeps.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) scripts/dgl_graphbolt_stub.py
	$(PY) -c "import torch, dgl, faiss, flair, sentence_transformers, rasa_sdk; assert '+cpu' in torch.__version__, torch.__version__"
	@touch $@

$(RASA_VENV)/.stamp: requirements/rasa.lock
	@test -x $(RASA_VENV)/bin/python || $(PY310) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/pip install -q --no-deps -r requirements/rasa.lock
	$(RASA_VENV)/bin/python -c "import rasa, socketio; from importlib.metadata import version; assert version('python-socketio') == '5.9.0'"
	@touch $@

# Debian packages the tests need (headless Chromium for the widget test).
.stamps/system: scripts/system_packages.sh
	bash scripts/system_packages.sh
	@mkdir -p .stamps && touch $@

# --- demo -----------------------------------------------------------------------------------
$(BUILD)/catalog/.stamp: $(VENV)/.stamp data/taxonomy.yml $(wildcard retrieval/demo/*.py)
	rm -rf $(BUILD)/catalog
	$(TAILOR) catalog demo --out $(BUILD)/catalog --size $(DEMO_SIZE) --seed $(DEMO_SEED)
	@touch $@

demo: setup $(BUILD)/catalog/.stamp
	$(TAILOR) catalog check $(BUILD)/catalog --format demo

# --- tests ----------------------------------------------------------------------------------
lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check retrieval actions bot tests scripts bench

pytest: setup
	$(PY) -m pytest -q

test: setup lint pytest

clean:
	rm -rf build .stamps
