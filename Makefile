# computeperf — one command per intent. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA_LIBS := .cache/kafka/libs/.complete

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the package with its pinned dependencies

$(KAFKA_LIBS): infra/kafka/pom.xml | $(STAMP)
	$(PY) -m infra.kafka.broker provision

kafka-jars: $(KAFKA_LIBS) ## Fetch the Apache Kafka broker jars from Maven Central

BROKERS ?= 1

kafka-up: $(KAFKA_LIBS) ## Start Kafka (KRaft) on 127.0.0.1:19092 (BROKERS=3: a cluster on 19092/94/96)
	$(PY) -m infra.kafka.broker up --brokers $(BROKERS)

kafka-down: ## Stop the broker(s) started by kafka-up
	@test -x $(PY) && $(PY) -m infra.kafka.broker down || true

run: $(KAFKA_LIBS) ## Run broker, workers, scheduler and the demo simulator; dashboard on http://127.0.0.1:6066/
	$(VENV)/bin/computeperf run

test: $(KAFKA_LIBS) system-packages ## Run the whole suite (unit and doctests on every core, then integration on a real broker)
	$(VENV)/bin/pytest -m "not kafka" -n auto
	$(VENV)/bin/pytest -m kafka

test-unit: $(STAMP) system-packages ## Fast tests only (no broker)
	$(VENV)/bin/pytest -m "not kafka" -n auto

lint: $(STAMP) ## ruff, ruff format --check and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(KAFKA_LIBS) ## Pipeline benchmark: throughput and latency vs a raw aiokafka passthrough
	$(VENV)/bin/computeperf bench pipeline --events 200000 --json

lock: ## Re-pin constraints.txt from a fresh resolve
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install -q -e '.[dev]' \
	  && .lockenv/bin/pip freeze --exclude-editable > constraints.txt && rm -rf .lockenv

clean: kafka-down ## Remove the venv, caches, Kafka data and jars
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

SYSTEM_PACKAGES := prometheus prometheus-alertmanager chromium
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends

system-packages: ## Debian packages the tests drive: prometheus (and promtool), alertmanager, chromium
	@command -v promtool >/dev/null && command -v prometheus-alertmanager >/dev/null \
	  && command -v chromium >/dev/null \
	  || $(APT_INSTALL) $(SYSTEM_PACKAGES) \
	  || { apt-get update -q && $(APT_INSTALL) $(SYSTEM_PACKAGES); }

.PHONY: system-packages
.PHONY: help venv kafka-jars kafka-up kafka-down run test test-unit lint bench lock clean
