# voxgate: `make demo` and `make test` are the two commands a fresh clone needs.
# Everything they need (the Go tools in bin/, the virtualenv in .venv/) is built on first use.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed
TOOLS := kube-apiserver kube-controller-manager kubectl etcd opa helm kubeconform regal kube-score
PYTEST_ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(VENV_STAMP) ## create or update the virtualenv in .venv/

.PHONY: tools
tools: ## build the pinned Go tools into bin/ (cached; rebuilt only when a pin changes)
	hack/tools/build.sh

.PHONY: chart-sync
chart-sync: ## copy crds/ and the policy bundle into charts/voxgate (the chart's copies must not drift)
	hack/chart-sync.sh

.PHONY: lint
lint: venv ## ruff, mypy --strict, the import-layer contracts, the chart's copies in step
	hack/chart-sync.sh --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: policy-check
policy-check: tools ## opa fmt, opa check --strict, opa test with >= 90% coverage, regal lint
	bin/opa fmt --diff --fail policies/
	bin/opa check --strict policies/
	hack/policy-coverage.sh 90
	bin/regal lint policies/

.PHONY: test-unit
test-unit: venv ## unit tests: pure functions, no processes
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

.PHONY: test-integration
test-integration: venv tools ## integration tests against a real kube-apiserver, etcd and OPA
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

.PHONY: test
test: lint policy-check test-unit test-integration ## everything CI runs

.PHONY: demo
demo: venv tools ## install the chart locally, run the operator with its RBAC, decide every example
	$(BIN)/voxgate dev demo

.PHONY: dev-up
dev-up: venv tools ## leave a local control plane running (.voxgate/dev)
	$(BIN)/voxgate dev up --controller-manager

.PHONY: dev-down
dev-down: venv ## stop it
	$(BIN)/voxgate dev down

.PHONY: bench
bench: venv tools ## run every benchmark and rewrite bench/results/ (about 15 minutes)
	$(BIN)/python bench/controlplane_startup.py
	$(BIN)/python bench/policy_bench.py
	$(BIN)/python bench/privacy_bench.py accountant
	$(BIN)/python bench/sealed_bench.py --repeat 3
	$(BIN)/python bench/operator_bench.py
	$(BIN)/python bench/webhook_bench.py

.PHONY: clean
clean: ## remove caches (keeps bin/ and .venv/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis .voxgate
