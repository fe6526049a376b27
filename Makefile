# `make run` and `make test` work from nothing: they create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-quick lint demo clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/advinspect gui --demo

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

test-quick: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not oracle and not slow" -x -q

lint: setup
	$(VENV)/bin/ruff check advinspect tests benchmarks
	$(VENV)/bin/lint-imports

# Retrain the demo model and rewrite resources/ (seeded, about a minute on the CPU).
demo: setup
	$(PY) -m advinspect.zoo.digits --out resources

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
