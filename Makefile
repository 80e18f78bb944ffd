# Set-up and the two commands of the README. Every target installs what it needs first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# Extra pip arguments for torch, e.g. TORCH_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_ARGS ?=

.PHONY: setup quickstart test test-slow docs lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	# torch first, pinned, so nothing below pulls a multi-GB CUDA build
	$(PIP) install --quiet -c constraints.txt torch $(TORCH_ARGS)
	$(PIP) install --quiet -c constraints.txt -e ".[test,docs,export,report,lint,formats,lightning,tune]"
	# PyG Temporal without torch-sparse/torch-scatter (they only build from source)
	$(PIP) install --quiet -c constraints.txt --no-deps torch-geometric-temporal
	touch $@

quickstart: setup
	$(BIN)/pygkd quickstart

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

# The documentation site, warnings as errors, and the guides' examples (docs/_build/html)
docs: setup
	$(BIN)/sphinx-build -W --keep-going -q -b html docs/source docs/_build/html
	$(BIN)/sphinx-build -W --keep-going -q -b doctest docs/source docs/_build/doctest

# ruff (E, F, B, I, UP) and mypy on pygkd/: zero findings
lint: setup
	$(BIN)/ruff check pygkd tests docs
	$(BIN)/mypy

bench: setup
	$(BIN)/pygkd bench

clean:
	rm -rf $(VENV) runs .pytest_cache
