# onemap — `make run` serves the map, `make test` runs the suite; both set up what they need.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
ONEMAP := $(VENV)/bin/onemap
STAMP := $(VENV)/.onemap-installed
LOCK  := requirements.lock
ASSETS := api/map/static/vendor/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup system venv assets run test test-fast bench lint lock clean-db config-reference

setup: system venv assets

system:
	@bash scripts/setup-system.sh

venv: $(STAMP)

# Installs exactly the locked versions (hash-checked); the project itself goes in editable,
# without dependencies and with the locked setuptools (no build isolation); then the grid
# planning's numba loops are compiled once into their disk cache (geo/gridplan/__pycache__).
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --require-hashes --no-deps -r $(LOCK)
	@$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@$(PY) -c "from geo.gridplan.compiled import load_compiled as l; print(f'numba: grid planning compiled in {l():.0f} s')"
	@touch $(STAMP)

# Refresh the lock after changing dependencies in pyproject.toml (see README, "Dependencies").
lock: venv
	@$(VENV)/bin/uv pip compile pyproject.toml scripts/build-tools.in --extra dev --extra bench \
		--generate-hashes --python $(PY) --quiet -o $(LOCK)
	@echo "lock: wrote $(LOCK); run make setup to install it"

assets: $(ASSETS)

$(ASSETS): api/map/package.json api/map/package-lock.json
	@bash scripts/install-assets.sh
	@touch $(ASSETS)

run: setup
	@$(ONEMAP) db up --port auto
	@$(ONEMAP) db migrate
	@$(ONEMAP) demo --size city --if-empty
	@$(ONEMAP) serve --host $(HOST) --port $(PORT)

test: setup
	@$(PY) -m pytest

# The pure tests only: no PostgreSQL, no Chromium needed (markers db/browser, see README).
test-fast: venv assets
	@$(PY) -m pytest -m "not db and not browser"

bench: setup
	@$(PY) bench/run_all.py

# README's configuration reference, written from the settings classes.
config-reference: venv
	@$(ONEMAP) config reference --write README.md

# ruff, then the import contracts of pyproject.toml (layers one way, no cycles).
lint: venv
	@$(VENV)/bin/ruff check geo api tiles tests bench
	@$(VENV)/bin/lint-imports --no-cache
