# Two commands do everything on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
BUN_VERSION := 1.4.4
BUN := $(TOOLS)/node_modules/.bin/bun

export REFLEX_USE_SYSTEM_BUN := 1
export PATH := $(abspath $(TOOLS)/node_modules/.bin):$(abspath $(VENV)/bin):$(PATH)

.PHONY: run test bench lint install install-dev migrate clean-build system-deps

run: install migrate
	$(PY) -m his_portal.cli init
	$(VENV)/bin/reflex run --env prod --single-port --frontend-port 3000 --backend-port 3000

test: system-deps install-dev
	$(PY) -m pytest

# What the tests need from the system: Chromium (browser tests), poppler (pdfsig,
# pdftoppm) and NSS's certutil. Installed with apt when root, else one line says what.
SYSTEM_DEPS := chromium:chromium pdfsig:poppler-utils pdftoppm:poppler-utils certutil:libnss3-tools
system-deps:
	@missing=$$(for pair in $(SYSTEM_DEPS); do command -v $${pair%%:*} >/dev/null || echo $${pair#*:}; done | sort -u | tr '\n' ' '); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "The tests need these Debian packages: sudo apt-get install $$missing"; exit 1; \
	  fi; \
	fi

bench: install
	$(PY) -m his_portal.bench $(BENCH_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

install: $(VENV)/.runtime $(BUN)

install-dev: install $(VENV)/.dev

migrate: install
	$(PY) -m his_portal.cli preflight
	$(VENV)/bin/reflex db migrate

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Reflex's own bun download needs the internet; the npm registry carries bun.
$(BUN):
	npm install --prefix $(TOOLS) --no-audit --no-fund --no-save bun@$(BUN_VERSION)
	$(BUN) --version >/dev/null 2>&1 || node $(TOOLS)/node_modules/bun/install.js
	$(BUN) --version

clean-build:
	rm -rf .web
