# The two commands of the quick start: `make dev` and `make test`. Each installs what it needs into
# .venv (re-installing only when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 3000
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: dev test lint typecheck unit validate build clean

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "unigate needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@touch $@

$(VENV)/.local: pyproject.toml $(VENV)/.python
	$(BIN)/pip install -q -e '.[local]'
	@touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.local
	$(BIN)/pip install -q -e '.[local,test]'
	@touch $@

## Run the gateway locally on the embedded default (moto, demo account and key, echo provider).
dev: $(VENV)/.local
	$(BIN)/unigate dev --port $(PORT)

## Everything CI runs: lint, types, the template lint, and the whole test suite.
test: $(VENV)/.test lint typecheck validate
	$(BIN)/pytest -n auto -q

lint: $(VENV)/.test
	$(BIN)/ruff check .

typecheck: $(VENV)/.test
	$(BIN)/mypy

validate: $(VENV)/.test
	$(BIN)/sam validate --lint --region us-east-1

build: $(VENV)/.test
	$(BIN)/sam build

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache .unigate
