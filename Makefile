# The two commands of the quick start: `make dev` and `make test`. Each installs what it needs into
# .venv (re-installing only when pyproject.toml changes).
# The functions run on python3.13 (template.yaml), so the venv is made with it when the machine has one (on
# PATH, or installed under pyenv but not selected), and the local server, the tests and the bench run on the
# runtime's interpreter. Otherwise any Python 3.11+ (`PYTHON=...` picks one).
RUNTIME_PYTHON := $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	PYENV_VERSION="$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13' | tail -1)" \
	python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null)
PYTHON ?= $(or $(RUNTIME_PYTHON),python3)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 3000
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: dev test lint typecheck unit validate build openapi bench clean

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

## Everything CI runs: lint, types, the template lint, sam build, and the whole test suite.
test: $(VENV)/.test lint typecheck validate build
	$(BIN)/pytest -n auto --dist loadfile -q

lint: $(VENV)/.test
	$(BIN)/ruff check .

typecheck: $(VENV)/.test
	$(BIN)/mypy

validate: $(VENV)/.test
	$(BIN)/sam validate --lint --region us-east-1

# SAM builds the python3.13/arm64 layers with a python3.13 from PATH. pyenv machines often have one installed
# but not selected: the one RUNTIME_PYTHON found goes first.
build: $(VENV)/.test
	PATH="$(if $(RUNTIME_PYTHON),$(dir $(RUNTIME_PYTHON)):)$$PATH" $(BIN)/sam build --cached --parallel

## Measure added latency, streaming, AWS calls and cold starts (prints a table, writes bench-results.json).
bench: $(VENV)/.test
	$(BIN)/python -m unigate.dev.bench

## Regenerate docs/openapi.json from the apps (a test fails when it drifts).
openapi: $(VENV)/.test
	$(BIN)/python -m unigate.dev.openapi > docs/openapi.json

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache .unigate
