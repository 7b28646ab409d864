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

.PHONY: run test bench lint install install-dev migrate clean-build

run: install migrate
	$(PY) -m his_portal.cli init
	$(VENV)/bin/reflex run --env prod --single-port --frontend-port 3000 --backend-port 3000

test: install-dev
	$(PY) -m pytest

bench: install
	$(PY) -m his_portal.bench
	$(PY) -m his_portal.bench_live

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

install: $(VENV)/.runtime $(BUN)

install-dev: install $(VENV)/.dev

migrate: install
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
