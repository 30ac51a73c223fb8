# Trial Companion: the front door. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV        := .venv
BIN         := $(VENV)/bin
RASA        := $(BIN)/rasa
SPACY_DIR   := build/spacy/trialbot_en
MODEL       := models/trialbot.tar.gz
RESULTS     := build/results
# A PostgreSQL server `make bench` may create (and drop) a bench_<random> database on.
BENCH_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
# pytest-xdist processes `make pytest` runs the suite in (a test file stays in one):
# one per core on the 2-core machines it runs on.
PYTEST_WORKERS ?= 2

# Python 3.10 is the only version Rasa 3.6 and this project support. Take the first
# python3.10 that really runs: on PATH, or any pyenv install of 3.10.x.
PY310 := $(shell for p in python3.10 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10.*/bin/python3.10 /usr/local/bin/python3.10 /usr/bin/python3.10 2>/dev/null); do \
  "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

# Quiet TensorFlow's start-up chatter; keep Rasa's telemetry off.
export TF_CPP_MIN_LOG_LEVEL := 2
export RASA_TELEMETRY_ENABLED := false
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
# The browser tests (tests/browser) drive this Chromium (Debian's package); nothing is downloaded.
export CHROMIUM ?= /usr/bin/chromium

NLU_DATA    := $(shell find data -name '*.yml' 2>/dev/null)
DOMAIN      := $(shell find domain -name '*.yml' 2>/dev/null)
NLP_SOURCES := $(shell find bot/nlp -name '*.py' -o -name '*.yml' 2>/dev/null)


.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  make %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --- set-up -----------------------------------------------------------------------

$(BIN)/python:
	@if [ -z "$(PY310)" ]; then \
	  echo "Python 3.10 was not found. Rasa 3.6 needs Python 3.10: install it (e.g. 'pyenv install 3.10') and run make again." >&2; \
	  exit 1; fi
	$(PY310) -m venv $(VENV)

$(VENV)/.installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -qq --no-deps -r requirements.lock
	$(BIN)/pip install -qq --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

.PHONY: install
install: $(VENV)/.installed ## Create the virtual environment from requirements.lock

$(SPACY_DIR)/meta.json: $(NLP_SOURCES) $(VENV)/.installed
	$(BIN)/python -m bot.nlp.build_pipeline --out $(SPACY_DIR)

.PHONY: nlp
nlp: $(SPACY_DIR)/meta.json ## Build the project's spaCy pipeline (no download)

# Rasa's training cache knows the spaCy pipeline only by its path, so a rebuilt pipeline
# (new lexicon, new normaliser) retrains everything (--force) instead of reusing the cache.
$(MODEL): $(NLU_DATA) $(DOMAIN) config.yml $(SPACY_DIR)/meta.json
	$(RASA) train --config config.yml --domain domain --data data --out models --fixed-model-name trialbot \
		$(if $(filter $(SPACY_DIR)/meta.json,$?),--force)
	touch $@

.PHONY: train
train: $(MODEL) ## Train the Rasa model if the data, domain, config or pipeline changed

.PHONY: setup
setup: install nlp train

# --- the two commands ---------------------------------------------------------------

.PHONY: run
run: setup ## Set up, then start the assistant, action server and web app (Ctrl-C stops all)
	$(BIN)/trialbot run

.PHONY: test
test: install nlp lint validate ## Set up, lint, validate the data, run every test (training alongside the tests that need no model)
	$(MAKE) --no-print-directory -j2 train-logged pytest-unit
	$(MAKE) --no-print-directory pytest-model story-test test-prod

# --- quality gates ------------------------------------------------------------------

.PHONY: lint
lint: $(VENV)/.installed ## ruff, mypy, and the import layers (no cycles; see pyproject.toml)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

.PHONY: validate
validate: $(VENV)/.installed ## rasa data validate --fail-on-warnings, failing on any unexpected warning
	$(BIN)/python -m bot.nlp.data_check

# The tests that need the trained model (the whole assistant running); `make test` runs the
# others while the model trains (2 cores: training keeps about one busy).
MODEL_TESTS := tests/e2e tests/handoff/test_stack.py
PYTEST      := $(BIN)/pytest --durations=15 -m "not prod" -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: pytest
pytest: pytest-unit pytest-model ## The pytest suite (SQLite and PostgreSQL; end-to-end on the model; the console in Chromium)

.PHONY: pytest-unit
pytest-unit: $(VENV)/.installed nlp ## The pytest suite but the tests that need the trained model
	@[ -x "$(CHROMIUM)" ] || echo "Chromium is not at $(CHROMIUM): the browser tests will be skipped (in CI: fail). Install it: sudo apt-get install chromium" >&2
	$(PYTEST) $(addprefix --ignore=,$(MODEL_TESTS))

.PHONY: pytest-model
pytest-model: $(VENV)/.installed nlp $(MODEL) ## The end-to-end tests on the trained model (MODEL_TESTS)
	$(PYTEST) $(MODEL_TESTS)

# `make train` with its output in a file (it runs beside pytest-unit in `make test`); the
# end of the log is shown either way.
.PHONY: train-logged
train-logged: $(VENV)/.installed nlp
	@mkdir -p $(RESULTS)
	@echo "Training the model if stale, beside the tests; log: $(RESULTS)/train.log"
	@$(MAKE) --no-print-directory train > $(RESULTS)/train.log 2>&1 || { tail -n 40 $(RESULTS)/train.log >&2; exit 1; }
	@tail -n 2 $(RESULTS)/train.log

.PHONY: test-prod
test-prod: $(VENV)/.installed nlp $(MODEL) ## Production topology (nginx, 2 Rasa, PostgreSQL, Redis) with each process killed in turn
	$(BIN)/pytest -m prod tests/prod --durations=10

.PHONY: story-test
story-test: $(MODEL) ## Rasa test stories (tests/test_*.yml) against the trained model
	$(RASA) test core --e2e --model $(MODEL) --stories tests --out $(RESULTS)/core --fail-on-prediction-errors --no-plot

.PHONY: eval
eval: setup ## 5-fold cross-validation of the NLU; prints intent and FAQ macro-F1, English and Spanish
	$(RASA) test nlu --config config.yml --nlu data/nlu --cross-validation --folds 5 --out $(RESULTS)/nlu-cv --no-plot --successes
	$(BIN)/python -m bot.nlp.report $(RESULTS)/nlu-cv --nlu data/nlu

.PHONY: bench
bench: setup ## The stack vs plain Rasa on the same model (SQLite, PostgreSQL); message-to-alert latency
	$(BIN)/python -m bench.conversations
	$(BIN)/python -m bench.conversations --database-url $(BENCH_POSTGRES_URL)
	$(BIN)/python -m bench.alert_latency
	$(BIN)/python -m bench.outreach --workers 2

.PHONY: export-nlu
export-nlu: $(VENV)/.installed ## Write the messages researchers labelled to var/exports/nlu-reviewed-<date>.yml, for review
	$(BIN)/trialbot export-nlu export

.PHONY: seed-demo
seed-demo: $(VENV)/.installed ## Seed several weeks of simulated participants into the database
	$(BIN)/trialbot seed-demo

.PHONY: telegram-webhook
telegram-webhook: $(VENV)/.installed ## Register the Telegram webhook (needs TELEGRAM_* settings)
	$(BIN)/trialbot telegram-webhook

.PHONY: lock
lock: ## Re-resolve requirements.in into requirements.lock (needs the package index)
	rm -rf build/lock-venv
	$(PY310) -m venv build/lock-venv
	build/lock-venv/bin/pip install --quiet -r requirements.in
	build/lock-venv/bin/pip check
	{ echo "# Generated by 'make lock' from requirements.in with Python 3.10. Do not edit by hand."; \
	  build/lock-venv/bin/pip freeze --all --exclude-editable | grep -v '^pip=='; } > requirements.lock

.PHONY: clean
clean: ## Remove the built pipeline, models and results (keeps the venv and database)
	rm -rf build models .rasa results
