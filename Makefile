# newswatch: `make demo` and `make test` create .venv and install what each needs themselves:
# the demo only the package (a minute on a fresh machine), the tests the rest besides.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# one stamp per install set: `make demo` then `make test` in one clone installs the test
# extras on top; `make test` leaves the demo's stamp fresh too, so the demo installs nothing
DEMO_STAMP := $(VENV)/.installed-demo
STAMP := $(VENV)/.installed-test

.PHONY: test test-fast demo lint typecheck importlint install clean bench golden screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# the demo: the package and its dependencies, nothing for the tests, no system packages
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	@# the store tests also run against a real PostgreSQL server (Debian's package)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)
	@# the web view's tests drive Debian's chromium (Playwright with its executable path)
	@command -v chromium >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $(DEMO_STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

# the layers and the absence of import cycles (pyproject.toml [tool.importlinter])
importlint: $(STAMP)
	$(BIN)/lint-imports --no-cache

# the tests on both cores (a worker takes the next test when it is free), the end-to-end
# daemons and workers (slow) among them: they wait on what their logs and databases say,
# not on windows of time; then the tests that measure a daemon's clock (serial), one at
# a time of their own, so no other test's load shows in them. ruff, mypy and the import
# contracts run beside the first part (its daemons mostly wait on their clocks), their
# output shown after it, and any of them failing fails the target
test: $(STAMP)
	@rm -f $(VENV)/static.log
	( $(BIN)/ruff check . && $(BIN)/mypy && $(BIN)/lint-imports --no-cache ) \
		>$(VENV)/static.log 2>&1 & static=$$!; \
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not serial" tests; tests=$$?; \
	wait $$static; checks=$$?; cat $(VENV)/static.log; \
	test $$tests -eq 0 && test $$checks -eq 0
	$(BIN)/python -m pytest -q -m serial tests

# the tests that crawl no site and start no server (tests/conftest.py marks the others
# `e2e`, the daemons' ones are `slow` besides)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow and not e2e" tests

demo: $(DEMO_STAMP)
	$(BIN)/newswatch demo

golden: $(STAMP)
	$(BIN)/python -m tests.golden_regen

screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py
	NEWSWATCH_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_web.py -k headless

bench: $(STAMP)
	$(BIN)/python bench/crawl_throughput.py ../shared/corpus/aeb --rounds 3
	$(BIN)/python bench/crawl_overhead.py ../shared/corpus/aeb --rounds 3
	$(BIN)/python -m bench.match_throughput ../shared/corpus/aeb --rounds 7

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
