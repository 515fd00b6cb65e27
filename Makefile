# Every target installs what it needs into .venv first: a fresh clone needs only python3.11, pip, gcc and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export NO_PROXY := 127.0.0.1,localhost

.PHONY: help install system-deps test demo stack bench chaos airflow clean

help:
	@echo "make demo   - run the seal setup DAG end to end against the local emulator (SQLite Airflow)"
	@echo "make test   - the whole test suite"
	@echo "make bench  - the API's ceiling, raised quotas, a 7-date backfill under the scheduler, memory, parse, cost by size to 100,000 tenants (~45 min)"
	@echo "make chaos  - 1,000 tenants under every injected fault at once: nothing lost, nothing doubled"
	@echo "make stack  - the docker-compose deployment natively: PostgreSQL, Redis, Celery, the emulator; UI + login printed"
	@echo "make airflow - airflow standalone (SQLite) wired to the emulator, for the UI; prints the login"

$(STAMP): requirements.txt requirements-test.txt constraints.txt pyproject.toml emulator/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check pip==26.3
	$(PY) -m pip install -q -r requirements.txt -r requirements-test.txt -c constraints.txt
	$(PY) -m pip install -q --no-deps -e . -e ./emulator
	touch $(STAMP)

install: $(STAMP)

# PostgreSQL, Redis and Chromium for the stack and browser tests (apt-get, as root; quick when present).
system-deps:
	bash scripts/install-system-deps.sh

# Lint and format first (seconds), then the suite.
test: $(STAMP) system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) scripts/demo.py

bench: $(STAMP)
	$(PY) bench/bench.py

chaos: $(STAMP)
	$(PY) bench/chaos.py

stack: $(STAMP) system-deps
	$(PY) scripts/stack.py

airflow: $(STAMP)
	$(PY) scripts/standalone.py

clean:
	rm -rf $(VENV) .airflow .stack output .pytest_cache
