# The two commands of the quick start: `make dev` and `make test`. Each installs what it needs into .venv
# from the lock file (uv.lock), re-syncing only when pyproject.toml or uv.lock changes; `make lock`
# refreshes the lock and the dependency layer's pinned requirements.
# The functions run on python3.13 (template.yaml), so the venv is made with it when the machine has one (on
# PATH, or installed under pyenv but not selected). Otherwise any Python 3.11+ (`PYTHON=...` picks one).
RUNTIME_PYTHON := $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	PYENV_VERSION="$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.13' | tail -1)" \
	python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null)
PYTHON ?= $(or $(RUNTIME_PYTHON),python3)
VENV   := .venv
BIN    := $(VENV)/bin
# uv installs from the lock; it is itself pinned and lives in its own small venv.
UV_VERSION := 0.13.9
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
PORT   ?= 3000
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: dev dev-reset test lint typecheck unit validate build openapi bench lock clean clients browsers

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "unigate needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q uv==$(UV_VERSION)

# --inexact: the dev sync leaves the test tools in place when both are installed.
$(VENV)/.local: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --inexact --python $(PYTHON) --extra local
	@touch $@

$(VENV)/.test: pyproject.toml uv.lock $(VENV)/.local
	$(UV) sync --locked --python $(PYTHON) --extra local --extra test
	@touch $@

## Run the gateway locally on the embedded default (moto, demo account and key, echo provider).
dev: $(VENV)/.local
	$(BIN)/unigate dev --port $(PORT)

## The same on an empty store: forgets the accounts, keys and credits earlier runs kept under .unigate/.
dev-reset: $(VENV)/.local
	$(BIN)/unigate dev --port $(PORT) --fresh

## Everything CI runs: lint, types, the template lint, sam build, and the whole test suite.
test: $(VENV)/.test browsers lint typecheck validate build clients
	$(BIN)/pytest -n auto --dist loadfile -q

## The npm CLIs the end-to-end tests run (Claude Code), pinned in tests/clients/package-lock.json. Without
## node and npm their tests are skipped, saying so.
CLIENTS := tests/clients/node_modules/.package-lock.json
clients: $(if $(shell command -v npm 2>/dev/null),$(CLIENTS),)
	@command -v npm >/dev/null || echo "npm not found: the Claude Code tests will be skipped"

$(CLIENTS): tests/clients/package.json tests/clients/package-lock.json
	cd tests/clients && npm ci --no-audit --no-fund
	@touch $@

# The console's browser tests drive the system's Chromium (Debian's package; Playwright for Python comes from
# the lock with the test extra). Installed here when missing and this is root; otherwise those tests skip and
# say how to enable them.
browsers:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the console's browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; \
	  else \
	    echo "chromium not found and not root: the console's browser tests will be skipped (sudo apt-get install chromium enables them)"; \
	  fi; }

# ruff, and the import contract in pyproject.toml (dependencies point one way, from web down to domain).
lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

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
	$(BIN)/python -m unigate_tools.bench

## Regenerate docs/openapi.json from the apps (a test fails when it drifts).
openapi: $(VENV)/.test
	$(BIN)/python -m unigate_tools.openapi > docs/openapi.json

## Re-resolve every dependency to its newest allowed version and pin it: uv.lock, and the dependency layer's
## requirements exported from it (a test fails when the two drift).
lock: | $(UV)
	$(UV) lock --python $(PYTHON)
	$(UV) export --quiet --frozen --no-dev --no-emit-project --no-header -o layers/deps/requirements.txt

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .ruff_cache .mypy_cache .unigate
