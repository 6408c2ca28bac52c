# Two commands: `make up` (install + run everything) and `make test` (install + every test).
VENV  := .venv
STAMP := $(VENV)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3)

.PHONY: install up test down lint bench clean screenshot

$(STAMP): pyproject.toml bench/pyproject.toml constraints.txt tests/js/package-lock.json bench/js/package-lock.json sdk/js/package-lock.json sdk/emitter/package-lock.json deploy/scripts/install-system.sh
	@echo "==> system packages (Java, Maven, Redis, Node.js, Chromium...)"
	@PYTHON=$(PYTHON) bash deploy/scripts/install-system.sh
	@echo "==> Python packages into $(VENV) (pip; a few minutes the first time)"
	@$(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install -q --upgrade pip
	@$(VENV)/bin/python -m pip install -q -c constraints.txt -e '.[dev]' -e ./bench
	@echo "==> npm packages: tests/js, bench/js, sdk/js, sdk/emitter"
	@npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	@npm ci --prefix bench/js --no-audit --no-fund --loglevel=error
	@npm ci --prefix sdk/js --no-audit --no-fund --loglevel=error
	@npm ci --prefix sdk/emitter --no-audit --no-fund --loglevel=error
	@touch $(STAMP)
	@echo "==> installed"

install: $(STAMP)

up: install
	@echo "==> tidewire up (engines, services, the WhatsApp simulator; Ctrl-C stops all)"
	@$(VENV)/bin/tidewire up

test: install
	bash deploy/scripts/run-tests.sh

# The README's picture: the inbox with simulated customers, taken by the browser test.
screenshot: install
	TIDEWIRE_SCREENSHOT=docs/inbox.png $(VENV)/bin/pytest -q tests/browser/test_simulated_inbox.py

down:
	$(VENV)/bin/tidewire down

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean: down
	rm -rf .tidewire
