# `make run` and `make test` work from nothing: they create .venv and install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup run test test-quick lint demo bundle clean

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

# Desktop bundle (PyInstaller onedir) in dist/advinspect/, built in its own venv from a CPU-only
# torch (a CUDA build adds 3-5 GB), then smoke-tested offscreen. Slow (minutes) and big: never
# part of `make test`. TORCH_INDEX= (empty) takes torch from PyPI, i.e. the CUDA build. Where
# download.pytorch.org is out of reach but a CPU wheel lies on disk (this project's build machine):
#   make bundle TORCH_INDEX= TORCH_SPEC=torch==2.13.0
# gives a bundle without torchvision (torchvision-architecture state_dicts and ONNX gradients
# through onnx2torch then say what is missing; everything else works).
BUNDLE_VENV ?= .venv-bundle
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
BPY := $(BUNDLE_VENV)/bin/python

bundle:
	test -x $(BPY) || $(PYTHON) -m venv $(BUNDLE_VENV)
	$(BPY) -m pip install --quiet --upgrade pip
	$(BPY) -m pip install --quiet $(TORCH_SPEC) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BPY) -m pip install --quiet -r packaging/requirements-bundle.txt
	$(if $(findstring torchvision,$(TORCH_SPEC)),$(BPY) -m pip install --quiet 'onnx2torch>=1.5',$(BPY) -m pip install --quiet --no-deps 'onnx2torch>=1.5')
	$(BPY) -m pip install --quiet --no-deps .
	$(BUNDLE_VENV)/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller \
		packaging/advinspect.spec
	du -sh dist/advinspect
	QT_QPA_PLATFORM=offscreen dist/advinspect/advinspect --smoke

clean:
	rm -rf $(VENV) $(BUNDLE_VENV) build dist .pytest_cache .ruff_cache
