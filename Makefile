# Two commands on a fresh Debian machine: `make demo` (the whole graph on the sample data) and `make test`.
# Each installs what it needs on first use: Debian packages, the Python environment (uv, from uv.lock), the dbt manifest.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := $(PYTHON) -m uv
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export DO_NOT_TRACK := 1
export UV_PYTHON_DOWNLOADS := never
DEMO_DEBS := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-noto-color-emoji fonts-droid-fallback fonts-symbola
# fonts: DejaVu for text, Noto Color Emoji (PDF) and Symbola (charts) for emoji, Droid Sans Fallback for CJK
# chromium: the browser test (tests/e2e/test_browser.py), driven by playwright-core from npm (Node 20+)
TEST_DEBS := $(DEMO_DEBS) postgresql postgresql-15-wal2json openjdk-17-jre-headless chromium
MANIFEST := dbt_project/target/manifest.json

.PHONY: help demo test ui install debs-demo debs-test bench-load bench-profile bench-sync bench-advice bench-embed bench-stream \
	discover validate clean test-etl-unit test-etl-integration test-etl-e2e test-etl-load etl-status etl-sync-manual

help:
	@echo "make demo     start the embedded services, run the whole asset graph on the sample data, stop"
	@echo "make test     install and start real services, run unit and integration tests"
	@echo "make ui       serve the Dagster UI on http://127.0.0.1:3000 over the embedded services"
	@echo "make test-etl-unit / test-etl-integration / test-etl-e2e   one layer of the tests"
	@echo "make test-etl-load   the load, sync and stream benchmarks (ratios against peers)"
	@echo "make etl-status      per table: last sync, rows, watermark, lag, failures"
	@echo "make etl-sync-manual SOURCE=s [TABLE=t] [FULL=1]   land a source (or one table) and what depends on it"
	@echo "make bench-load / bench-profile / bench-sync / bench-advice / bench-embed / bench-stream   benchmarks (see bench/)"

demo: debs-demo install
	$(BIN)/aietl demo

ui: debs-demo install
	$(BIN)/aietl ui

test: debs-test install
	source tests/services.sh && $(BIN)/pytest -q -p no:cacheprovider tests

test-etl-unit: install
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

test-etl-integration: debs-test install
	source tests/services.sh && $(BIN)/pytest -q -p no:cacheprovider tests/integration

test-etl-e2e: debs-test install
	source tests/services.sh && $(BIN)/pytest -q -p no:cacheprovider tests/e2e

test-etl-load: bench-load bench-sync bench-stream

etl-status: install
	$(BIN)/aietl status

etl-sync-manual: install
	@[ -n "$(SOURCE)" ] || { echo "usage: make etl-sync-manual SOURCE=name [TABLE=name] [FULL=1]" >&2; exit 1; }
	$(BIN)/aietl sync $(SOURCE)$(if $(TABLE), --table $(TABLE))$(if $(FULL), --full)

bench-load: install
	$(BIN)/python bench/load_postgres.py

bench-profile: install
	$(BIN)/python bench/profile.py

bench-sync: debs-test install
	$(BIN)/python bench/sync.py

bench-advice: debs-test install
	$(BIN)/python bench/advice.py

bench-embed: install
	$(BIN)/python bench/embed.py

bench-stream: install
	$(BIN)/python bench/stream.py

discover: install
	$(BIN)/aietl discover

validate: install
	$(BIN)/aietl validate
	$(BIN)/dagster definitions validate -w workspace.yaml

install: $(VENV)/.installed $(MANIFEST)

$(VENV)/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q "uv==$(UV_VERSION)"
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

$(MANIFEST): $(VENV)/.installed config/pipelines.yaml config/catalog.json $(shell find etl_assets/transform -name '*.py' 2>/dev/null)
	$(BIN)/aietl generate-dbt

debs-demo:
	@dpkg -s $(DEMO_DEBS) >/dev/null 2>&1 || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEMO_DEBS))

debs-test:
	@dpkg -s $(TEST_DEBS) >/dev/null 2>&1 || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(TEST_DEBS))

clean:
	rm -rf .aietl dbt_project/target
