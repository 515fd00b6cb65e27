# Every target installs what it needs into .venv first: a fresh clone needs only python3.11, pip, gcc and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export NO_PROXY := 127.0.0.1,localhost

.PHONY: help install test demo bench chaos airflow clean

help:
	@echo "make demo   - run the seal setup DAG end to end against the local emulator (SQLite Airflow)"
	@echo "make test   - the whole test suite"
	@echo "make bench  - 1,000 tenants at the API's ceiling, the naive baseline, memory and parse ratios (~10 min)"
	@echo "make chaos  - 1,000 tenants under every injected fault at once: nothing lost, nothing doubled"
	@echo "make airflow - airflow standalone wired to the emulator, for the UI"

$(STAMP): requirements.txt requirements-test.txt constraints.txt pyproject.toml emulator/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check pip==26.3
	$(PY) -m pip install -q -r requirements.txt -r requirements-test.txt -c constraints.txt
	$(PY) -m pip install -q --no-deps -e . -e ./emulator
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) scripts/demo.py

bench: $(STAMP)
	$(PY) bench/bench.py

chaos: $(STAMP)
	$(PY) bench/chaos.py

airflow: $(STAMP)
	$(PY) scripts/standalone.py

clean:
	rm -rf $(VENV) .airflow output .pytest_cache
