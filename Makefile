# Every target sets up what it needs; `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: venv lint test test-unit test-integration test-e2e controlplane demo crds bench clean

venv: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip setuptools wheel
	$(BIN)/pip install -q -e '.[test]'
	touch $@

lint: venv
	$(BIN)/ruff check operator tests tools
	$(BIN)/mypy
	$(BIN)/lint-imports

# Tier 1: pure functions, the client against httpx.MockTransport, handlers against kmock.
test-unit: venv
	$(PYTEST) -q tests/unit

# Tier 2: the client and Huawei's own SDK against the emulator over real HTTP with real signatures.
test-integration: venv
	$(PYTEST) -q tests/integration

# Tier 3: the real kube-apiserver + etcd (built from Go modules, cached under ~/.cache), kubectl, the operator.
test-e2e: venv controlplane
	$(PYTEST) -q tests/e2e

controlplane:
	bash tools/controlplane/build.sh

test: lint test-unit test-integration test-e2e

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
