# The two commands: `make demo` and `make test`. Everything they need is installed here.
# While working: `make unit` (the pure and unit tests, tests/unit: no hub process, no
# database, no Go build; seconds) and `make fmt` (ruff format, then ruff check --fix).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=
CODE   := edgeplane tests benchmarks scripts hack

.PHONY: all venv demo test unit lint fmt typecheck contracts pytest kube toxiproxy bench bench-scale clean

all: test

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (or run make PYTHON=python3)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)

fmt: $(STAMP)
	$(VENV)/bin/ruff format $(CODE)
	$(VENV)/bin/ruff check --fix $(CODE)

typecheck: $(STAMP)
	$(VENV)/bin/mypy $(CODE)

contracts: $(STAMP)
	$(VENV)/bin/lint-imports

# Real Kubernetes control planes for tests/k8s, built from Go modules (cached).
kube:
	@if command -v go >/dev/null; then hack/kube/build; \
	elif [ "$$CI" = true ]; then echo "make kube: Go is required in CI to build hack/kube" >&2; exit 1; \
	else echo "make kube: Go not installed; tests/k8s will be skipped"; fi

# toxiproxy-server for the network-fault tests (tests/integration/faults), from its Go
# module (cached).
toxiproxy:
	@if command -v go >/dev/null; then hack/toxiproxy/build; \
	elif [ "$$CI" = true ]; then echo "make toxiproxy: Go is required in CI to build hack/toxiproxy" >&2; exit 1; \
	else echo "make toxiproxy: Go not installed; the toxiproxy fault tests will be skipped"; fi

pytest: $(STAMP) kube toxiproxy
	scripts/ensure-postgres
	scripts/ensure-nftables
	scripts/ensure-brokers
	scripts/ensure-chromium
	$(PY) -m pytest -p no:cacheprovider $(ARGS)

test: lint typecheck contracts pytest

# No `kube` and no PostgreSQL: nothing under tests/unit needs a hub process, a database
# or a Go build.
unit: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -q tests/unit $(ARGS)

bench: $(STAMP)
	scripts/ensure-postgres
	$(PY) benchmarks/api.py
	$(PY) benchmarks/agent_footprint.py
	$(PY) benchmarks/converge.py
	$(PY) benchmarks/placement.py
	scripts/ensure-brokers
	$(PY) benchmarks/discovery.py
	scripts/ensure-chromium
	$(PY) benchmarks/dashboard.py
	$(PY) benchmarks/reroute.py
	$(PY) benchmarks/autoscale.py

# Issue 11's scale figures: long (about an hour) and each wants the machine to itself.
bench-scale: $(STAMP) kube
	scripts/ensure-postgres
	$(PY) benchmarks/fleet.py
	$(PY) benchmarks/idle_traffic.py
	$(PY) benchmarks/converge.py --sites 1000,10000

clean:
	rm -rf $(VENV) .edgeplane .mypy_cache .ruff_cache
