# Two commands on a fresh machine: `make demo` and `make test`. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint docs venv clean bench lock stress

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

demo: $(INSTALLED)
	@bash deploy/system-deps.sh coturn
	$(PY) -m deploy.demo

test: $(INSTALLED)
	@bash deploy/system-deps.sh coturn chromium firefox-esr iproute2 redis-server libegl1 libegl-mesa0 libgl1-mesa-dri
	$(PY) -m pytest --durations=25

lint: $(INSTALLED) node_modules/.package-lock.json
	$(PY) -m pip install --quiet -e '.[lint]'
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	npx --no-install eslint
	$(PY) -m settings.docs --check

# docs/configuration.md, from the settings every piece declares.
docs: $(INSTALLED)
	$(PY) -m settings.docs

# ESLint for the web client, exactly the versions in package-lock.json (node_modules is not committed).
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || bash deploy/system-deps.sh npm
	npm ci --no-audit --no-fund

# The container image installs exactly these versions (deploy/container/Dockerfile); run after
# changing the dependencies in pyproject.toml or deploy/container/examples.in (the examples target's
# additions). Resolved for the image's Python (3.11).
lock: $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[lint]'
	$(VENV)/bin/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock pyproject.toml
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--output-file deploy/container/examples.lock deploy/container/examples.in

clean:
	rm -rf $(VENV) .pytest_cache .demo test-artifacts node_modules

# Benchmarks (docs/benchmarks.md): under 15 minutes; BENCH_QUICK=1 for a ~2 minute run.
BENCH_INSTALLED := $(VENV)/.bench-installed

$(BENCH_INSTALLED): pyproject.toml $(INSTALLED)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_INSTALLED)

bench: $(BENCH_INSTALLED)
	@bash deploy/system-deps.sh coturn chromium firefox-esr nginx iproute2 libegl1 libegl-mesa0 libgl1-mesa-dri
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; $(PY) -m benchmarks

# Load, soak and abuse runs (docs/security.md): loopback only, bounded, under 15 minutes; writes
# stress/results/REPORT.md. STRESS_QUICK=1 for a ~2 minute run at small sizes.
stress: $(BENCH_INSTALLED)
	@bash deploy/system-deps.sh coturn chromium
	ulimit -n $$(ulimit -Hn) 2>/dev/null || true; $(PY) -m stress
