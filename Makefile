# Parley: `make help` lists the targets.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install run migrate test test-embedded test-services test-faults test-soak lint format worker beat bench

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: requirements.txt requirements-dev.txt
	[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $@

# The Python SDK (docs/clients.md), editable: the benchmark and the tests import it. Its
# dependencies (websockets, aiohttp) are pinned in requirements.txt.
$(VENV)/.sdk-installed: $(VENV)/.installed clients/python/pyproject.toml
	$(PY) -m pip install --quiet --no-deps -e ./clients/python
	touch $@

install: $(VENV)/.installed $(VENV)/.sdk-installed ## Create the virtualenv; install requirements.txt (runtime), requirements-dev.txt (tests, lint) and the Python SDK (clients/python)

migrate: install ## Apply database migrations
	$(PY) manage.py migrate --noinput

run: migrate ## Serve the app on http://127.0.0.1:8000 (embedded default unless DATABASE_URL/REDIS_URL are set)
	DEBUG=$${DEBUG:-1} $(PY) manage.py runserver $(HOST):$(PORT)

test: install ## Whole suite: embedded default, then PostgreSQL + Redis when DATABASE_URL and REDIS_URL are set (required with CI=true)
	$(MAKE) --no-print-directory test-embedded
	@if [ -n "$$DATABASE_URL" ] && [ -n "$$REDIS_URL" ]; then \
		$(MAKE) --no-print-directory test-services; \
	elif [ "$$CI" = "true" ]; then \
		echo "CI=true: DATABASE_URL and REDIS_URL must be set for the PostgreSQL + Redis run" >&2; exit 1; \
	else \
		echo "DATABASE_URL/REDIS_URL not set: the PostgreSQL + Redis run was not done"; \
	fi

test-embedded: install ## Suite on the embedded default (SQLite, in-memory layer, eager Celery)
	env -u DATABASE_URL -u REDIS_URL $(PY) -m pytest $(PYTEST_ARGS)

test-services: install ## Suite on PostgreSQL + Redis (needs DATABASE_URL and REDIS_URL; flushes that Redis DB)
	@[ -n "$$DATABASE_URL" ] && [ -n "$$REDIS_URL" ] || { echo "set DATABASE_URL and REDIS_URL" >&2; exit 1; }
	$(PY) -m pytest $(PYTEST_ARGS)

test-faults: install ## Only the fault-injection scenarios (part of test-services; docs/reliability.md)
	@[ -n "$$DATABASE_URL" ] && [ -n "$$REDIS_URL" ] || { echo "set DATABASE_URL and REDIS_URL" >&2; exit 1; }
	$(PY) -m pytest tests/faults -m faults -p no:cacheprovider -rA $(PYTEST_ARGS)

test-soak: install ## The long soak: 1,000 sockets for PARLEY_SOAK_SECONDS (default 600)
	@[ -n "$$DATABASE_URL" ] && [ -n "$$REDIS_URL" ] || { echo "set DATABASE_URL and REDIS_URL" >&2; exit 1; }
	$(PY) -m pytest tests/faults -m soak -p no:cacheprovider -rA $(PYTEST_ARGS)

lint: install ## ruff, mypy (strict on gateway/ realtime/ core/), import-linter layers, no missing migrations
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	env -u DATABASE_URL -u REDIS_URL $(PY) -m mypy
	$(VENV)/bin/lint-imports
	env -u DATABASE_URL -u REDIS_URL $(PY) manage.py makemigrations --check --dry-run

format: install ## Format the code with ruff
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

worker: install ## Run a Celery worker (needs REDIS_URL)
	$(VENV)/bin/celery -A chatsite worker --loglevel=INFO

beat: install ## Run Celery beat (needs REDIS_URL)
	$(VENV)/bin/celery -A chatsite beat --loglevel=INFO -s var/celerybeat-schedule

bench: install ## Benchmark Parley against the tutorial-style baseline (quick suite; see bench/__main__.py)
	$(PY) -m bench --suite quick --target parley --target baseline --json var/bench/quick.json
