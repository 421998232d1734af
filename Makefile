# The front door: `make run` brings the whole system up on this machine, `make test` runs the suite.
# Every step bootstraps what it needs and is a no-op when it is already done.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.stamp-deps
SYS_STAMP := var/.stamp-system
NPM_STAMP := node_modules/.stamp-npm
PYTEST_ARGS ?= -n auto
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the project needs: the broker, a CJK font for receipt images,
# PostgreSQL server binaries for the throwaway test database, Chromium for the HQ page tests,
# mosquitto_pub/mosquitto_sub as independent clients in the broker and ACK tests, and
# systemd-analyze to check the units provisioning writes.
APT_PACKAGES := mosquitto mosquitto-clients fonts-wqy-zenhei postgresql chromium systemd

.PHONY: run test lint bench mutation clean deps system npm lock help

help:
	@echo "make run    - broker + cloud ingest + HQ API + a simulated terminal, on this machine"
	@echo "make test   - the whole test suite"
	@echo "make lint   - ruff, mypy (pure packages), import-linter contracts"
	@echo "make bench  - performance figures into benchmarks/results.json (QUICK=1 for a short run)"
	@echo "make mutation - mutation testing of device/checkout (MODULE=loyalty for one module)"
	@echo "make clean  - remove the virtualenv, caches and local data"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): requirements/lock.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/lock.txt
	touch $@

deps: $(DEPS_STAMP)

# Installs only what is missing (a package removed but not purged counts as missing);
# `apt-get update` runs first because a fresh machine's package lists may be empty.
$(SYS_STAMP):
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if ! command -v mosquitto >/dev/null && [ ! -x /usr/sbin/mosquitto ]; then missing="$$missing mosquitto"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p var && touch $@

system: $(SYS_STAMP)

# The MicroPython WebAssembly port (exact version in package-lock.json) runs the I/O-board
# firmware in its tests, the board simulator and the benchmarks.
$(NPM_STAMP): package.json package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
	  { echo "Node 20 and npm are needed for the I/O-board firmware tests"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

npm: $(NPM_STAMP)

run: $(DEPS_STAMP) $(SYS_STAMP)
	$(PY) -m provisioning.demo

test: $(DEPS_STAMP) $(SYS_STAMP) $(NPM_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEPS_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m mypy --config-file benchmarks/mypy.ini benchmarks
	$(VENV)/bin/lint-imports

bench: $(DEPS_STAMP) $(SYS_STAMP) $(NPM_STAMP)
	$(PY) -m benchmarks $(if $(QUICK),--quick,)

# Mutation testing of the checkout core against its fast tests; not part of `make test`.
# mutmut keeps its results in mutants/ and checks only new or changed mutants on a rerun,
# so the survivors are checked again afterwards (a test added since may kill them).
# MODULE=loyalty (re)checks one module. Niced and on two workers: it is heavy.
MUTATION_JOBS ?= 2
MUTMUT := nice -n 15 $(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS)
mutation: $(DEPS_STAMP)
	$(MUTMUT) $(if $(MODULE),"device.checkout.$(MODULE).*",)
	gaps="$$($(PY) tests/mutation_score.py --gap-names)"; [ -z "$$gaps" ] || $(MUTMUT) $$gaps
	$(PY) tests/mutation_score.py --gaps --min 95

lock: | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]' && \
	  { echo '# Exact pins of the whole dependency tree (runtime + dev). Regenerate with `make lock`.'; \
	    $(PY) -m pip freeze --exclude-editable | grep -v '^-e'; } > requirements/lock.txt

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache \
	  benchmarks/results.json mutants
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
