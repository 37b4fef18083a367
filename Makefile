# The only commands a newcomer needs: make demo, make test, make ui.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STATE := $(or $(T2SQL_HOME),$(CURDIR)/.state)
# Local state, no telemetry, no hub look-ups for local files.
export DAGSTER_HOME := $(or $(DAGSTER_HOME),$(STATE)/dagster)
export DAGSTER_DISABLE_TELEMETRY := 1
export MLFLOW_DISABLE_TELEMETRY := true
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test test-fast lint ui install clean dagster-home mlflow-server

$(BIN)/t2sql: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(BIN)/t2sql

install: $(BIN)/t2sql dagster-home

# The instance settings: SQLite (dagster.yaml) unless DAGSTER_CONFIG names another file,
# e.g. DAGSTER_CONFIG=deploy/postgres/dagster.yaml (docs/deployment.md). Copied whenever it differs.
DAGSTER_CONFIG ?= dagster.yaml
dagster-home:
	mkdir -p $(DAGSTER_HOME)/.nux
	cmp -s $(DAGSTER_CONFIG) $(DAGSTER_HOME)/dagster.yaml || cp $(DAGSTER_CONFIG) $(DAGSTER_HOME)/dagster.yaml
	echo "seen: 1" > $(DAGSTER_HOME)/.nux/nux.yaml

demo: install  ## build the demo data and model, train, evaluate, register (offline, CPU, minutes)
	HF_HUB_OFFLINE=1 $(BIN)/t2sql materialize --experiment demo
	$(BIN)/t2sql models list

test: install lint  ## lint, format check and the test suite
	HF_HUB_OFFLINE=1 $(BIN)/pytest

lint: install  ## ruff: lint and format check (`ruff format .` fixes the format)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-fast: install lint  ## the suite without the tests marked slow (training, whole pipelines, servers, browsers)
	HF_HUB_OFFLINE=1 $(BIN)/pytest -m "not slow"

ui: install  ## Dagster UI on :3000, MLflow UI on :5000
	@echo "Dagster UI: http://127.0.0.1:3000   MLflow UI: http://127.0.0.1:5000"
	trap 'kill 0' EXIT; \
	case "$${MLFLOW_TRACKING_URI:-}" in http*) echo "MLflow: tracking server $$MLFLOW_TRACKING_URI";; \
	*) $(BIN)/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(STATE)/mlflow.db}" --host 127.0.0.1 --port 5000 & ;; esac; \
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

mlflow-server: install  ## MLflow tracking server on :5000: PostgreSQL backend, artifacts proxied (docs/deployment.md)
	@test -n "$$MLFLOW_BACKEND_STORE_URI" || { echo "set MLFLOW_BACKEND_STORE_URI=postgresql+psycopg2://USER:PASSWORD@HOST:5432/mlflow"; exit 2; }
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/mlflow server --backend-store-uri "$$MLFLOW_BACKEND_STORE_URI" \
	  --artifacts-destination "$${MLFLOW_ARTIFACTS_DESTINATION:-$(STATE)/mlflow-artifacts}" --serve-artifacts \
	  --host 127.0.0.1 --port 5000

clean:
	rm -rf $(STATE)
