# The commands a person types. Everything runs from the workspace venv in .venv,
# installed from the hash-pinned requirements.lock.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV ?= uv
SERVICES := auth catalog pricing offers orders

.PHONY: help install tools lock lint format test test-fast test-fault run run-check emulator migrate bench \
	bench-messaging bench-emulator bench-catalog bench-pricing bench-bigbuy bench-summary asyncapi clean

help:
	@echo "make run      - the whole platform end to end on the embedded default (emulator, demo data)"
	@echo "make test     - ruff, mypy and every test (what .ci/run calls); runs make tools first"
	@echo "make tools    - docker-compose, promtool (apt-get as root) and kubectl, for tests/deploy"
	@echo "make emulator - the Allegro emulator alone, in the foreground"
	@echo "make emulator-bigbuy - the BigBuy API emulator alone, in the foreground (port 8410)"
	@echo "make bench    - every benchmark; results in bench/results/"

$(PY): requirements.lock
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) venv --quiet --allow-existing $(VENV)
	$(UV) pip sync --quiet --python $(PY) requirements.lock
	@touch $(PY)

install: $(PY)

# The command-line tools tests/deploy runs on the deployment files: docker-compose and promtool
# (Debian packages, installed with apt-get when run as root) and kubectl (checked). Idempotent.
tools: $(PY)
	bash deploy/tools/install.sh

# Regenerate the hash-pinned lock from pyproject.toml files (uv.lock stays local: it records URLs).
lock:
	$(UV) lock
	$(UV) export --quiet --format requirements-txt --no-emit-project --all-groups -o requirements.lock

lint: $(PY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(PY)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: tools lint
	$(PY) -m pytest

test-fast: $(PY)
	$(PY) -m pytest -m "not fault and not slow"

test-fault: $(PY)
	$(PY) -m pytest -m fault

asyncapi: $(PY)
	$(PY) -m shared.asyncapi > docs/asyncapi.yaml

migrate: $(PY)
	$(PY) deploy/local/devstack.py migrate

run: $(PY)
	$(PY) deploy/local/devstack.py run

# Start everything, run the demo, stop: a quick proof that `make run` works.
run-check: $(PY)
	$(PY) deploy/local/devstack.py check

emulator: $(PY)
	$(PY) -m allegro_emulator

# The BigBuy API emulator (sandbox/bigbuy), port 8410 unless BIGBUY_EMULATOR_PORT says otherwise.
.PHONY: emulator-bigbuy
emulator-bigbuy: $(PY)
	$(PY) -m bigbuy_emulator

bench: bench-messaging bench-emulator bench-catalog bench-pricing bench-bigbuy
	$(MAKE) bench-summary

bench-summary: $(PY)
	$(PY) bench/summary.py

bench-messaging: $(PY)
	$(PY) bench/messaging.py

bench-emulator: $(PY)
	$(PY) bench/emulator.py

bench-pricing: $(PY)
	$(PY) bench/pricing.py

# 100,000 BigBuy products through the connector against the floor BigBuy's limits allow
# (windows shortened tenfold: about 7 minutes).
bench-bigbuy: $(PY)
	$(PY) bench/bigbuy.py

bench-catalog: $(PY)
	$(PY) bench/catalog.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
