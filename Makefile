# The front door: `make run` and `make test` each do the whole set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDP := $(VENV)/bin/cdp
JARS := .cache/jars
DEMO_LANDING ?= data/landing
DEMO_WAREHOUSE ?= data/warehouse
DEMO_PERSONS ?= 1000
DEMO_DAYS ?= 5
DEMO_SEED ?= 7
DEMO_END ?= 2026-11-24

.PHONY: setup venv jars run demo-data test lint format bench clean

setup: venv jars

# Stamp file: reinstall only when the dependency pins change.
$(VENV)/.installed: pyproject.toml infra/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c infra/constraints.txt -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

jars:
	bash infra/fetch_jars.sh $(JARS)

demo-data: setup
	@if [ ! -d "$(DEMO_LANDING)/crm" ]; then \
	  $(CDP) generate --out $(DEMO_LANDING) --persons $(DEMO_PERSONS) --days $(DEMO_DAYS) \
	    --seed $(DEMO_SEED) --end-date $(DEMO_END); \
	fi

# Set-up, demo data, then the nightly build for every demo date.
run: demo-data
	$(CDP) run --landing $(DEMO_LANDING) --warehouse $(DEMO_WAREHOUSE) \
	  --from $$($(PY) -c "import datetime as d; print(d.date.fromisoformat('$(DEMO_END)') - d.timedelta(days=$(DEMO_DAYS)-1))") \
	  --to $(DEMO_END)
	$(CDP) tables --warehouse $(DEMO_WAREHOUSE)
	@echo
	@echo 'Query it:  .venv/bin/cdp sql "select namespace, count(*) from gold.identity_map group by namespace"'

test: setup
	$(PY) -m pytest tests -q

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Identity benchmark: generate, build, resolve, score (cdp/bench.py); figures go on the issue.
BENCH_PERSONS ?= 10000
BENCH_DAYS ?= 30
BENCH_SEED ?= 5
bench: setup
	$(PY) -m cdp.bench --persons $(BENCH_PERSONS) --days $(BENCH_DAYS) --seed $(BENCH_SEED)

clean:
	rm -rf data .pytest_cache
