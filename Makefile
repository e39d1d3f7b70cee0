# Every target sets up what it needs; `make demo` and `make test` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/python -m pytest

.PHONY: venv lint test test-unit test-integration test-e2e tools controlplane image prometheus dashboard demo crds manifests lock bench clean

venv: $(STAMP)
# The venv installs exactly the hash-pinned versions of requirements-test.lock (runtime + test + dev tools), then
# the project itself without dependencies: a clean clone gets the same tools as the last green run.
$(STAMP): pyproject.toml requirements-test.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements-test.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

lint: venv
	$(BIN)/ruff check operator tests tools bench deploy
	$(BIN)/ruff format --check operator tests tools bench deploy
	$(BIN)/mypy
	MYPYPATH=bench:tools $(BIN)/mypy --strict --explicit-package-bases bench/*.py
	MYPYPATH=tools $(BIN)/mypy --strict --explicit-package-bases tools/dashboard.py
	MYPYPATH=operator:tools:bench:tests/unit $(BIN)/mypy --strict --explicit-package-bases tests/unit
	MYPYPATH=operator:tools:tests/integration $(BIN)/mypy --strict --explicit-package-bases tests/integration
	MYPYPATH=operator:tools:tests/e2e $(BIN)/mypy --strict --explicit-package-bases tests/e2e
	$(BIN)/lint-imports

# Tier 1: pure functions, the client against httpx.MockTransport, the controller without a cluster (workers,
# indices, leader election against a Lease fake), Argo CD's health engine.
test-unit: venv argocd-health
	$(PYTEST) -q tests/unit

# Tier 2: the client and Huawei's own SDK against the emulator over real HTTP with real signatures.
test-integration: venv
	$(PYTEST) -q tests/integration

# Tier 3: the real kube-apiserver + etcd (built from Go modules, cached under ~/.cache), kubectl, the operator;
# Prometheus' promtool and server for the alert rules, the dashboard and /metrics (tests/e2e/test_prometheus.py).
test-e2e: venv controlplane argocd-health prometheus
	$(PYTEST) -q tests/e2e

controlplane:
	bash tools/controlplane/build.sh

# Argo CD's own health engine (settings manager, Lua, gitops-engine) around deploy/argocd/argocd-cm-patch.yaml, for
# the Argo CD tests: built from the Go module proxy into ~/.cache/modelarts-operator/argocd-health-<version>-<hash>/.
.PHONY: argocd-health
argocd-health:
	bash tools/argocd-health/build.sh

# The operator image, modelarts-operator:<version>: `docker build` where a Docker engine answers, else podman with a
# stand-in python base built from Debian packages (tools/image/build.sh; needs root the first time, to apt-get
# podman, runc and mmdebstrap). Cached under ~/.cache/modelarts-operator: seconds when nothing changed.
# tests/e2e/test_image.py builds it too, so `make test` covers it.
image:
	bash tools/image/build.sh

# promtool and the Prometheus server, built from the Go module proxy and cached like the control plane.
prometheus:
	bash tools/prometheus/build.sh

# The Grafana dashboard is generated (tools/dashboard.py); tests/unit/test_dashboard.py fails when it is stale.
dashboard: venv
	$(BIN)/python tools/dashboard.py

# The main job: local control plane + emulator + operator, a pool walked through create -> scale -> delete.
demo: venv controlplane
	PYTHONPATH=tools $(BIN)/python tools/demo.py

# The CRDs are generated from the models in operator/modelarts_operator/resource; the chart carries
# byte-identical copies (tests/unit/test_packaging.py fails when any is stale).
crds: venv
	for kind in pools projects; do \
	  $(BIN)/modelarts-operator crd --kind $$kind > crds/modelarts.operator.dev_modelarts$$kind.yaml && \
	  cp crds/modelarts.operator.dev_modelarts$$kind.yaml deploy/helm/modelarts-operator/crds/; done

# Plain manifests for kustomize users, rendered from the chart with the helm that `make controlplane` builds
# (tests/e2e/test_chart.py fails when they are stale).
manifests: crds controlplane
	bash deploy/render-manifests.sh

# The container image installs exactly the hash-pinned versions of requirements.lock, the venv those of
# requirements-test.lock (tests/unit/test_dockerfile.py checks that both still satisfy pyproject.toml).
lock: venv
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --extra test --output-file requirements-test.lock pyproject.toml

# Every Go-built tool first, side by side: a Go build leaves a core idle much of the time (linking is serial), so on
# a cold machine three builds together finish well before three in a row. Cached ones return at once.
tools:
	$(MAKE) --no-print-directory -j3 controlplane argocd-health prometheus

test: tools
	$(MAKE) --no-print-directory lint test-unit test-integration test-e2e

# Benchmarks (not part of `make test`; ~30 min): control plane + emulator + operator, deletion / restart / steady
# scenarios, results in bench/results/latest.json. `ARGS=--quick` for a two-minute trial run.
bench: venv controlplane
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
