# onemap — `make run` serves the map, `make test` runs the suite; both set up what they need.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
ONEMAP := $(VENV)/bin/onemap
STAMP := $(VENV)/.onemap-installed
ASSETS := api/map/static/vendor/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup system venv assets run test bench lint clean-db

setup: system venv assets

system:
	@bash scripts/setup-system.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip setuptools wheel
	@$(PY) -m pip install -q -e '.[dev,bench]'
	@touch $(STAMP)

assets: $(ASSETS)

$(ASSETS): api/map/package.json
	@bash scripts/install-assets.sh
	@touch $(ASSETS)

run: setup
	@$(ONEMAP) db up --port auto
	@$(ONEMAP) db migrate
	@$(ONEMAP) demo --size city --if-empty
	@$(ONEMAP) serve --host $(HOST) --port $(PORT)

test: setup
	@$(PY) -m pytest

bench: setup
	@$(PY) bench/run_all.py

lint: venv
	@$(VENV)/bin/ruff check geo api tiles tests bench
