# tailor: `make demo` builds and starts the assistant; `make test` runs every test tier.
# Every step is idempotent: a stamp (or the artifact itself) re-runs a step only when its inputs changed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PY311 := $(shell scripts/find_python.sh 3.11)
PY310 := $(shell scripts/find_python.sh 3.10)
VENV := .venv
RASA_VENV := .venv-rasa
PY := $(VENV)/bin/python
TAILOR := $(VENV)/bin/tailor
RASA := $(RASA_VENV)/bin/rasa
BUILD := build/demo
DEMO_SIZE ?= 3000
DEMO_SEED ?= 0
# Engine training: ENGINE_CONFIG=FILE passes a TrainConfig JSON; TRAIN_THREADS=0 lets torch choose.
ENGINE_CONFIG ?=
TRAIN_THREADS ?= 0
TAGGER_SEED ?= 0
ENGINE_DIR := $(BUILD)/engine
TAGGER_DIR := $(BUILD)/tagger
CATALOG_DIR := $(BUILD)/catalog
RASA_MODEL := models/tailor.tar.gz
WIDGET := bot/web/static/webchat.js
# Real FashionIQ captions (optional): when present, the caption examples of the NLU are regenerated too.
CAPTIONS ?= ../shared/datasets/fashioniq/captions
export RASA_TELEMETRY_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# What each artifact is built from (a change to anything else never re-trains it).
ENGINE_SRC := $(filter-out retrieval/errors.py,$(wildcard \
	retrieval/training/loop.py retrieval/model/rgcn.py retrieval/graph/build.py retrieval/training/prepare.py retrieval/graph/schema.py \
	retrieval/catalog/taxonomy.py retrieval/training/artifacts.py retrieval/model/attributes.py retrieval/catalog/records.py retrieval/config.py \
	retrieval/training/config.py retrieval/model/losses.py retrieval/training/sim_edits.py retrieval/catalog/text_attributes.py \
	retrieval/training/run.py retrieval/training/manifest.py \
	retrieval/features/*.py retrieval/catalog/datasets/*.py))
TAGGER_SRC := retrieval/interactions/tagger.py retrieval/interactions/tagger_train.py retrieval/interactions/tagger_embeddings.py retrieval/interactions/tagger_sentences.py retrieval/interactions/tagger_bio.py retrieval/interactions/tagger_values.py retrieval/interactions/tagger_noise.py retrieval/interactions/tagger_templates.py retrieval/catalog/taxonomy.py
VOCAB_SRC := retrieval/catalog/vocabulary.py retrieval/catalog/vocabulary_templates.py retrieval/cli/dialogue.py retrieval/catalog/taxonomy.py
RASA_INPUTS := domain.yml config.yml $(shell find data -name '*.yml' 2>/dev/null | sort)

.PHONY: help setup setup-parts widget vocab catalog engine tagger rasa-model models build demo shell reproduce test test-fast lint rasa-validate rasa-test pytest clean

help:
	@echo "make demo    set up, build the demo catalog and models, start the assistant (Ctrl-C stops it)"
	@echo "make shell   the same models, but chat in this terminal (rasa shell)"
	@echo "make test    set up, then lint (ruff, import contracts, mypy) + rasa data validate + rasa test (stories) + pytest (all tiers)"
	@echo "make test-fast  only the unit tier of pytest (no trained model, no server)"
	@echo "make build   only build: catalog, engine, tagger, Rasa model"
	@echo "make reproduce  hard catalog, tailor's and the paper's config, Tables 1, 3, 4, 5 -> build/hard/report (~25 min + ~3 min per Table 5 row)"

# --- environments ---------------------------------------------------------------------------
# The parts install side by side (two pip runs, apt, npm): ~1.5 min less than one after another.
setup:
	@$(MAKE) --no-print-directory -j4 setup-parts
setup-parts: $(VENV)/.stamp $(RASA_VENV)/.stamp .stamps/system $(WIDGET)

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

# Debian packages the tests need (headless Chromium for the widget test; PostgreSQL, Redis, HAProxy for replicas).
.stamps/system: scripts/system_packages.sh
	bash scripts/system_packages.sh
	@mkdir -p .stamps && touch $@

# The chat widget (rasa-webchat@1.0.1 from npm, sha512-checked; gitignored).
widget: $(WIDGET)
$(WIDGET): bot/web/install_widget.sh
	sh bot/web/install_widget.sh
	@touch $@

# --- dialogue vocabulary (generated, checked in: CI has no FashionIQ captions) ---------------
vocab: data/nlu/vocabulary.yml
data/nlu/vocabulary.yml: data/taxonomy.yml $(VOCAB_SRC) | $(VENV)/.stamp
	$(TAILOR) vocab --taxonomy data/taxonomy.yml --out $@ \
	  $(if $(wildcard $(CAPTIONS)/cap.*.train.json),--captions $(CAPTIONS) --captions-out data/nlu/fashioniq_modify.yml)
	@touch $@

# --- demo: catalog -> engine, tagger; Rasa model --------------------------------------------
# meta/generator.json is the last file the generator writes: a catalog generated by hand counts as built.
CATALOG := $(CATALOG_DIR)/meta/generator.json
catalog: $(CATALOG)
$(CATALOG): data/taxonomy.yml $(wildcard retrieval/catalog/demo/*.py) | $(VENV)/.stamp
	rm -rf $(CATALOG_DIR)
	$(TAILOR) catalog demo --out $(CATALOG_DIR) --size $(DEMO_SIZE) --seed $(DEMO_SEED)
	@touch $@

# manifest.json (the checksums) is the last file `tailor train` writes: a model trained by hand counts as built.
engine: $(ENGINE_DIR)/manifest.json
$(ENGINE_DIR)/manifest.json: $(CATALOG) data/taxonomy.yml $(ENGINE_SRC) $(ENGINE_CONFIG) | $(VENV)/.stamp
	$(TAILOR) train --data $(CATALOG_DIR) --out $(ENGINE_DIR) --threads $(TRAIN_THREADS) \
	  $(if $(ENGINE_CONFIG),--config $(ENGINE_CONFIG))
	@touch $@

tagger: $(TAGGER_DIR)/.stamp
$(TAGGER_DIR)/.stamp: data/taxonomy.yml $(TAGGER_SRC) | $(VENV)/.stamp
	$(TAILOR) train-tagger --out $(TAGGER_DIR) --taxonomy data/taxonomy.yml --seed $(TAGGER_SEED)
	@touch $@

# `rasa train` keeps the old file when its own fingerprint says nothing changed: touch it then.
rasa-model: $(RASA_MODEL)
$(RASA_MODEL): $(RASA_INPUTS) data/nlu/vocabulary.yml | $(RASA_VENV)/.stamp
	$(RASA) train --domain domain.yml --config config.yml --data data \
	  --fixed-model-name $(notdir $(RASA_MODEL:.tar.gz=)) --out $(dir $(RASA_MODEL))
	@touch $@

# Two chains side by side: catalog -> engine (the long one), and tagger -> Rasa model
# (BUILD_JOBS=1: one after the other). Either failing fails the build.
BUILD_JOBS ?= 2
models: catalog engine tagger rasa-model
build: setup
ifeq ($(BUILD_JOBS),1)
	$(MAKE) --no-print-directory models
else
	@$(MAKE) --no-print-directory catalog engine & chain=$$!; \
	  $(MAKE) --no-print-directory tagger rasa-model; side=$$?; \
	  wait $$chain; engine=$$?; test $$side -eq 0 -a $$engine -eq 0
endif

# The servers find the models through these (actions/engine_provider.py, bot/launch.py); the engine
# finds the tagger itself as MODEL/../tagger (retrieval/interactions/statements.py).
RUN_ENV := TAILOR_MODEL_DIR=$(ENGINE_DIR) TAILOR_CATALOG_DIR=$(CATALOG_DIR) TAILOR_RASA_MODEL=$(RASA_MODEL)

# REPLICAS=2 (or more): PostgreSQL, Redis and HAProxy (Debian packages, installed by setup: .stamps/system)
# on loopback with data in build/replicas, N Rasa servers (5105, 5205, ...) and N action servers behind
# the balancer on the same public ports (bot/replicas.py).
REPLICAS ?= 1
demo: build
ifeq ($(REPLICAS),1)
	$(RUN_ENV) $(PY) -m bot.launch demo --model $(RASA_MODEL) --images $(CATALOG_DIR)
else
	$(RUN_ENV) $(PY) -m bot.replicas demo --replicas $(REPLICAS) --model $(RASA_MODEL) --images $(CATALOG_DIR)
endif

shell: build
	$(RUN_ENV) $(PY) -m bot.launch shell --model $(RASA_MODEL)

# Issue 12's tables on the hard catalog (retrieval/evaluation/reproduce.py); REPRODUCE_ARGS adds options.
reproduce: $(VENV)/.stamp
	$(TAILOR) reproduce --profile hard --out build/hard/report $(REPRODUCE_ARGS)

# --- tests ----------------------------------------------------------------------------------
# ruff (rules and formatting), the import contracts in pyproject.toml ([tool.importlinter]: run against
# this checkout, PYTHONPATH=.), no import circles (imports inside functions count) and no import inside a
# function without a '# heavy: <reason>' or '# lazy: <reason>' comment (scripts/import_cycles.py), mypy ([tool.mypy]).
LINT_PATHS := retrieval actions bot tests scripts bench
lint: $(VENV)/.stamp
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	PYTHONPATH=. $(VENV)/bin/lint-imports
	$(PY) scripts/import_cycles.py retrieval actions bot
	PYTHONPATH=. $(VENV)/bin/mypy

rasa-validate: $(RASA_VENV)/.stamp data/nlu/vocabulary.yml
	$(RASA) data validate --domain domain.yml --config config.yml --data data

# Writes results/ (gitignored).
rasa-test: $(RASA_MODEL)
	$(RASA) test --model $(RASA_MODEL) --stories tests --fail-on-prediction-errors --out results

# The session fixtures train the tiny engine themselves; the stack tests use $(RASA_MODEL).
# Every tier: unit, engine, stack (pyproject.toml markers; tests/conftest.py gives each test one).
pytest: setup $(RASA_MODEL)
	TAILOR_RASA_MODEL=$(RASA_MODEL) $(PY) -m pytest -q

# The unit tier only: no trained model, no server.
test-fast: $(VENV)/.stamp
	$(PY) -m pytest -q -m unit

test: setup lint rasa-validate rasa-test pytest

clean:
	rm -rf build .stamps results
