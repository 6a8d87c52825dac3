# The two commands a newcomer needs: `make run` and `make test`. Both set up everything
# themselves on a fresh machine (a .venv, the pinned packages, and Debian's chromium, redis-server
# and postgresql for the browser, cluster and storage tests), so what works here works in CI.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install install-test chromium redis-server haproxy postgresql cluster bench clean schema

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Debian's chromium, driven by Playwright through executable_path (the browser tests) and by kaleido
# (the session report's chart, for `make run` too): no browser is ever downloaded.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium (browser tests, report charts)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's redis-server, which the cluster tests start on a free port (tests/cluster/conftest.py).
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing Debian's redis-server for the cluster tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq redis-server >/dev/null; }

# Debian's haproxy, the load balancer the cluster tests put in front of several instances
# (tests/cluster/balancer.py) and `docs/deploy.md` configures.
haproxy:
	@command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || { \
	  echo "installing Debian's haproxy for the cluster tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq haproxy >/dev/null; }

# Debian's PostgreSQL, whose binaries the storage tests run as a throwaway cluster in a temporary
# directory on a free port (tests/postgres.py); found like the tests find it.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql for the storage tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

# The session report's trend chart is drawn by plotly in Debian's chromium too (kaleido).
run: install chromium
	@echo "vitalwatch demo: open http://$(HOST):$(PORT)"
	$(BIN)/vitalwatch demo --host $(HOST) --port $(PORT) --data-dir data/demo

# A cluster on this machine, for trying it (docs/deploy.md): PostgreSQL, Redis, three instances behind HAProxy
# and three simulated rooms streaming through it. A fresh one each time: data/cluster is emptied.
cluster: install redis-server haproxy postgresql
	rm -rf data/cluster
	$(BIN)/vitalwatch cluster --host $(HOST) --port $(PORT) --data-dir data/cluster

# Lint and type checks, also the first step of `make test`: ruff, then mypy (strict on the alarm
# logic and the wire protocol). Both read their settings from pyproject.toml; any finding fails.
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy

# The suite on JOBS workers (pytest-xdist): most tests wait on a real server, so two workers on two
# cores take about two thirds of the time of one. JOBS=0 runs it in this process.
JOBS ?= 2
test: lint chromium redis-server haproxy postgresql
	$(BIN)/python -m pytest -n $(JOBS)

bench: install-test
	$(BIN)/python bench/latency.py

schema: install
	$(BIN)/python -c "import json; from monitors.protocol import json_schema; print(json.dumps(json_schema(), indent=2))" > docs/protocol.schema.json
	$(BIN)/python -c "import json; from app.feed import json_schema; print(json.dumps(json_schema(), indent=2))" > docs/feed.schema.json
	$(BIN)/python -c "import json; from alerts.delivery.wire import json_schema; print(json.dumps(json_schema(), indent=2))" > docs/delivery.schema.json

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
