# legokit: two commands on a fresh machine — `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py | cksum | cut -d' ' -f1)
# CPU build of torch (a plain `pip install torch` would pull a multi-GB CUDA build)
TORCH  ?= torch==2.13.0

.PHONY: help install system-deps test test-long test-fast demo demo-long bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev,tts,export,lm]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)  ## make .venv with CPU torch and legokit (editable) + dev, TTS, export and LM (kenlm) extras

system-deps:  ## apt packages the recipes need (espeak-ng); explains what to do without apt
	@bash tools/install_system_deps.sh

test: install system-deps  ## set everything up and run the test suite (slow end-to-end tests included; CI runs this)
	$(BIN)/python -m pytest -q -m "not long"

test-long: install system-deps  ## the long end-to-end runs left out of `make test` (toy MT recipe, TTS recipe, WMT recipe)
	$(BIN)/python -m pytest -q -m long

test-fast: install  ## the suite without the tests marked slow
	$(BIN)/python -m pytest -q -m "not slow and not long"

demo: install system-deps  ## run the LegoNN reuse recipe (short config) end to end and print its table
	cd egs/lego_reuse/lego1 && ./run.sh

demo-long: install system-deps  ## the longer configuration behind docs/results.md
	cd egs/lego_reuse/lego1 && ./run.sh --config conf/long.conf

bench: install  ## short versions of the side-by-side benchmarks (installs peers in benchmarks/venvs)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/run_all.py --quick

lint:  ## ruff over the code
	$(BIN)/ruff check legokit tests benchmarks tools

clean:  ## remove caches (keeps .venv and recipe outputs)
	find . -name __pycache__ -prune -exec rm -rf {} + ; rm -rf .pytest_cache .ruff_cache
