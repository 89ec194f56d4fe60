# Two commands matter: `make run` (the whole stack locally) and `make test`.
SHELL := /bin/bash
VENV  ?= .venv
# Prefer Python 3.12 (the Lambda runtime) when pyenv has it; any python3 >= 3.11 works.
PY_BOOT ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 python3; do \
             command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(STAMP): requirements-dev.txt layers/shared/requirements.txt
	@test -n "$(PY_BOOT)" || { echo "need python3 >= 3.11"; exit 1; }
	$(PY_BOOT) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PYTHON) -m local.stack

test: $(STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PYTHON) -m ruff check .
	$(VENV)/bin/cfn-lint template.yaml

bench: $(STAMP)
	$(PYTHON) -m bench

clean:
	rm -rf $(VENV) .devdata .pytest_cache
