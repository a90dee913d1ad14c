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
DEMO_DAYS ?= 120
# The first DEMO_INITIAL_LOAD days arrive as one initial extract (a new installation's
# history, so the first night can train the propensity models); the rest night by night.
DEMO_INITIAL_LOAD ?= 118
DEMO_SEED ?= 7
DEMO_END ?= 2026-11-24

.PHONY: setup venv jars run demo-data test test-fast lint lint-imports format docs bench bench-stack eval-identity clean stack-deps up down screenshots sql-server bench-sql

setup: venv jars

# Stamp file: reinstall only when the dependency pins change.
$(VENV)/.installed: pyproject.toml infra/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c infra/constraints.txt -e ".[dev]"
	touch $@

venv: $(VENV)/.installed

# The Delta jars from Maven Central, then the SQL endpoint's guard and login classes
# (infra/sql_endpoint/java) compiled with the JDK's javac against pyspark's own jars.
jars: venv
	bash infra/fetch_jars.sh $(JARS)
	@command -v javac >/dev/null 2>&1 || { \
	  echo "installing Debian's openjdk-17-jdk-headless (javac)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q openjdk-17-jdk-headless >/dev/null; }
	PY=$(PY) bash infra/sql_endpoint/build.sh $(JARS)

demo-data: setup
	@if [ ! -d "$(DEMO_LANDING)/crm" ]; then \
	  $(CDP) generate --out $(DEMO_LANDING) --persons $(DEMO_PERSONS) --days $(DEMO_DAYS) \
	    --seed $(DEMO_SEED) --end-date $(DEMO_END) --initial-load $(DEMO_INITIAL_LOAD); \
	fi

# Set-up, demo data, then the nightly build for every demo date (the initial load first).
run: demo-data
	$(CDP) run --landing $(DEMO_LANDING) --warehouse $(DEMO_WAREHOUSE) \
	  --from $$($(PY) -c "import datetime as d; print(d.date.fromisoformat('$(DEMO_END)') - d.timedelta(days=$(DEMO_DAYS)-$(DEMO_INITIAL_LOAD)))") \
	  --to $(DEMO_END)
	@echo
	@echo 'Query it from any process (docs/analysts.md):'
	@echo '  .venv/bin/cdp sql "select rfm_segment, count(*) as profiles, sum(monetary) as revenue from gold.rfm group by 1 order by 3 desc"'
	@echo '  .venv/bin/cdp sql "describe table gold.profiles"'
	@echo '  .venv/bin/cdp sql "select segment, members, entered, exited from gold.segments"'
	@echo '  .venv/bin/cdp tables'
	@echo 'or from a JDBC/ODBC tool: .venv/bin/cdp sql-user add NAME, then make sql-server (docs/analysts.md)'

# Two pytest workers, each with its own Spark session: on small test data a Spark job is
# mostly single-threaded driver work, so two sessions keep both cores busy. A test file
# stays on one worker (its module fixtures are built once, its tests run in order), and the
# tests reading the shared `built` warehouse share one (tests/conftest.py). The slowest
# tests are listed at the end.
TEST_WORKERS ?= 2
test: setup stack-deps lint-imports
	$(PY) -m pytest tests -q -n $(TEST_WORKERS) --dist loadfile --durations=25

# The inner loop: unit tests on inline data, no generated data set or built warehouse (a test
# needing one is marked slow by tests/conftest.py). Aim: under 3 minutes.
test-fast: setup lint-imports
	$(PY) -m pytest tests -q -n $(TEST_WORKERS) --dist loadfile -m "not slow" --durations=10

# The import contract (.importlinter): layers import downward only, no cycles between
# siblings, the runtime never imports the development tools. Part of `make test`, so CI.
lint-imports: setup
	$(VENV)/bin/lint-imports

lint: lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The identity evaluation matrix (cdp_dev/identity/matrix.py, issue 15): every data set (default,
# heavy noise, names/birth date/address only, other locales, households) generated, built and
# scored beside a plain splink baseline, against the bar; fails (exit 3) when a set is below.
# Table on the terminal, JSON in $(EVAL_OUT)/identity_matrix.json.
EVAL_PERSONS ?= 2000
EVAL_DAYS ?= 30
EVAL_SEED ?= 7
EVAL_OUT ?= data/eval-identity
# The reference pages generated from the code (docs/settings.md, docs/tables.md);
# tests/test_docs.py fails when a committed page is stale.
docs: setup
	.venv/bin/python -m cdp_dev.docs

# One night through a stack of its own, timed task by task (cdp_dev/stack_bench.py);
# STACK_BENCH_ARGS=--no-connect runs each task as a driver of its own, to compare.
bench-stack: setup stack-deps
	$(PY) -m cdp_dev.stack_bench $(STACK_BENCH_ARGS)

eval-identity: setup
	$(CDP) evaluate identity --matrix --persons $(EVAL_PERSONS) --days $(EVAL_DAYS) \
	  --seed $(EVAL_SEED) --out $(EVAL_OUT)

# Nightly-build benchmark (cdp_dev/bench.py): history backfilled, then the DAG timed per task;
# figures go on the issue. BENCH_PERSONS=100000 for the large run. Then the identity matrix
# at BENCH_EVAL_PERSONS (BENCH_EVAL_IDENTITY=0 skips it); a set below the bar is reported,
# not fatal to the bench.
BENCH_PERSONS ?= 10000
BENCH_DAYS ?= 90
BENCH_NIGHTS ?= 1
BENCH_SEED ?= 5
BENCH_EVAL_IDENTITY ?= 1
BENCH_EVAL_PERSONS ?= 10000
bench: setup
	$(PY) -m cdp_dev.bench --persons $(BENCH_PERSONS) --days $(BENCH_DAYS) --seed $(BENCH_SEED) --nights $(BENCH_NIGHTS)
	@if [ "$(BENCH_EVAL_IDENTITY)" = "1" ]; then \
	  rc=0; $(CDP) evaluate identity --matrix --persons $(BENCH_EVAL_PERSONS) --days $(EVAL_DAYS) \
	    --seed $(EVAL_SEED) --out bench-results/identity-matrix-$(BENCH_EVAL_PERSONS)p || rc=$$?; \
	  if [ $$rc = 3 ]; then echo "identity matrix: below the bar (table above)"; \
	  elif [ $$rc != 0 ]; then exit $$rc; fi; \
	fi

# The local service stack (cdp/app/stack.py, infra/README.md): PostgreSQL as Airflow's
# metadata database, Airflow's api-server, scheduler and dag-processor, a Spark standalone
# master and two workers, all on loopback with their state in .stack/. `make up` is
# idempotent and prints the URLs and the login; `make down` stops what it started.
# The local stack's servers and its browser come from Debian's packages: PostgreSQL (Airflow's
# metadata database) and Chromium (the screenshots and their test).
stack-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian's$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q $$missing >/dev/null; \
	fi

up: setup stack-deps
	$(CDP) stack up

down:
	@if [ -x $(CDP) ]; then $(CDP) stack down; fi

# The stack as an operator sees it, in headless Chromium: the Airflow UI's view of a nightly
# run on the cluster, the Spark master UI and the run report, checked and saved under
# docs/screenshots (README shows them). Triggers the demo's last night on the stack first.
screenshots: demo-data up
	$(CDP) stack trigger --date $(DEMO_END)
	$(CDP) screenshots --out docs/screenshots

# The governed SQL endpoint for JDBC/ODBC and DB-API clients on jdbc:hive2://127.0.0.1:10000
# (cdp/app/sql_endpoint.py); add a login first: `.venv/bin/cdp sql-user add NAME`.
# SQL_ROLE=officer serves privacy officers every table on port 10001.
SQL_ROLE ?= analyst
sql-server: setup
	$(CDP) serve-sql --role $(SQL_ROLE)

# Latency of docs/analysts.md's questions through the endpoint against `cdp sql`, and the
# endpoint's memory (cdp_dev/sql_bench.py), on the demo warehouse.
bench-sql: demo-data
	@test -d data/warehouse/gold || $(MAKE) run
	$(PY) -m cdp_dev.sql_bench

clean:
	rm -rf data .pytest_cache
