# The commands a person types. Everything runs from the workspace venv in .venv,
# installed from the hash-pinned requirements.lock.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The venv's python is a symlink to the system's: make would read (and touch) that file's date,
# which every other venv on the machine shares. A stamp of our own says when we last synced.
INSTALLED := $(VENV)/.installed
UV ?= uv
SERVICES := auth catalog pricing offers orders

.PHONY: help install tools lock lint format test test-fast test-fault run run-check emulator console migrate bench \
	bench-messaging bench-emulator bench-catalog bench-pricing bench-orders bench-bigbuy bench-offers bench-pipeline bench-summary \
	asyncapi clean

help:
	@echo "make run      - the whole platform end to end on the embedded default: both emulators, every"
	@echo "                service and the BigBuy connector, a demo catalogue through to tracked orders"
	@echo "make run-check - the same on a small catalogue, then stops (non-zero if nothing sold)"
	@echo "make test     - ruff, mypy and every test (what .ci/run calls); runs make tools first"
	@echo "make tools    - docker-compose, promtool, chromium (apt-get as root) and kubectl, for the tests"
	@echo "make emulator - the Allegro emulator alone, in the foreground"
	@echo "make emulator-bigbuy - the BigBuy API emulator alone, in the foreground (port 8410)"
	@echo "make console  - the operator console on http://127.0.0.1:8009 (over a running stack)"
	@echo "make bench    - every benchmark; results in bench/results/"
	@echo "make bench-offers - 45,000 offers published, repriced, restocked against Allegro's rate-limit floor"
	@echo "make bench-pipeline - 45,000 products from the upstream event to active offers, whole platform"

$(INSTALLED): requirements.lock
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) venv --quiet --allow-existing $(VENV)
	$(UV) pip sync --quiet --python $(PY) requirements.lock
	@touch $(INSTALLED)

install: $(INSTALLED)

# The command-line tools tests/deploy runs on the deployment files: docker-compose and promtool
# (Debian packages, installed with apt-get when run as root) and kubectl (checked). Idempotent.
tools: $(INSTALLED)
	bash deploy/tools/install.sh

# Regenerate the hash-pinned lock from pyproject.toml files (uv.lock stays local: it records URLs).
lock:
	$(UV) lock
	$(UV) export --quiet --format requirements-txt --no-emit-project --all-groups -o requirements.lock

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(INSTALLED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Two pytest-xdist workers by default (testing/src/mci_testing/scheduling.py): one runs the
# directories that start a stack of services (tests/e2e, then the console's, the API-wide and
# the CLI's tests) one after the other, each stack stopped after its directory's last test, then
# joins the other worker, which takes the rest file by file, the longest files first. Measured
# here (2 cores): at most 59 PostgreSQL connections of the run's own; clean-clone CI 12-14.5
# minutes, where one process takes 18-25. Two runs of four lost a console browser test: one to a
# wrong test (fixed), one to a 60 s wait under the other worker's load, now 180 s (a failing
# browser test prints what its page showed). `PYTEST_WORKERS=0` runs one process.
# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set (this machine's image sets it):
# else each of the hundreds of Python processes the tests start compiles every module it imports
# again (about 1.3 s of CPU for a service's imports).
PYTEST_WORKERS ?= 2
test: tools lint
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

test-fast: $(INSTALLED)
	$(PY) -m pytest -m "not fault and not slow"

test-fault: $(INSTALLED)
	$(PY) -m pytest -m fault

asyncapi: $(INSTALLED)
	$(PY) -m shared.asyncapi > docs/asyncapi.yaml

migrate: $(INSTALLED)
	$(PY) deploy/local/devstack.py migrate

run: $(INSTALLED)
	$(PY) deploy/local/devstack.py run

# Start everything, run the demo, stop: a quick proof that `make run` works.
run-check: $(INSTALLED)
	$(PY) deploy/local/devstack.py check

emulator: $(INSTALLED)
	$(PY) -m allegro_emulator

# The BigBuy API emulator (sandbox/bigbuy), port 8410 unless BIGBUY_EMULATOR_PORT says otherwise.
.PHONY: emulator-bigbuy
emulator-bigbuy: $(INSTALLED)
	$(PY) -m bigbuy_emulator

# The operator console (console/README.md) over the services of a running `make run`.
console: $(INSTALLED)
	$(PY) -m mci_console

bench: bench-messaging bench-emulator bench-catalog bench-pricing bench-orders bench-bigbuy \
	bench-offers bench-pipeline
	$(MAKE) bench-summary

bench-summary: $(INSTALLED)
	$(PY) bench/summary.py

bench-messaging: $(INSTALLED)
	$(PY) bench/messaging.py

bench-emulator: $(INSTALLED)
	$(PY) bench/emulator.py

bench-pricing: $(INSTALLED)
	$(PY) bench/pricing.py

# 100,000 BigBuy products through the connector against the floor BigBuy's limits allow
# (windows shortened tenfold: about 7 minutes).
bench-bigbuy: $(INSTALLED)
	$(PY) bench/bigbuy.py

bench-catalog: $(INSTALLED)
	$(PY) bench/catalog.py

bench-orders: $(INSTALLED)
	$(PY) bench/orders.py

# 45,000 offers for one account against the emulator's limits at Allegro's own pace (about 45
# minutes): creation, repricing and stock update against the floor those limits allow.
bench-offers: $(INSTALLED)
	$(PY) bench/offers.py

# The whole platform as separate processes (as `make run`), 45,000 products sent as upstream
# SupplierProductsChanged events until every listable one settled in offers, against the
# emulator's limits scaled by 4: total time against the floor those limits allow, per-stage
# times, 429s, duplicates, offers by state. CPU-bound on 2 cores: about an hour there.
bench-pipeline: $(INSTALLED)
	$(PY) bench/pipeline.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
