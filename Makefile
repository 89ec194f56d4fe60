# Two commands matter: `make run` (the whole stack locally) and `make test`.
SHELL := /bin/bash
VENV  ?= .venv
# Prefer Python 3.12 (the Lambda runtime) when pyenv has it; any python3 >= 3.11 works.
PY_BOOT ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 python3; do \
             command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
PYTHON := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run services test lint bench clean layer layer-check openapi fuzz

$(STAMP): requirements-dev.txt layers/shared/requirements.txt
	@test -n "$(PY_BOOT)" || { echo "need python3 >= 3.11"; exit 1; }
	$(PY_BOOT) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PYTHON) -m local.stack

# Only the services (Postgres, moto, the sandbox rails) for `sam local`; writes .devdata/env.json (README).
services: $(STAMP)
	OFFERHUB_SERVICES_ONLY=1 $(PYTHON) -m local.stack

test: $(STAMP)
	$(PYTHON) -m ruff check .
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PYTHON) -m ruff check .
	$(VENV)/bin/cfn-lint template.yaml

bench: $(STAMP)
	$(PYTHON) -m bench

# The OpenAPI document (contract/build.py), committed and served; `make test` fails when it is stale.
openapi: $(STAMP)
	$(PYTHON) -m contract.build

# The schemathesis fuzz of the running stack at length (`make test` runs it with FUZZ_EXAMPLES=5).
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(PYTHON) -m pytest tests/e2e/test_fuzz.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .devdata .pytest_cache

# The shared layer as Lambda gets it, built by the recipe `sam build` runs (layers/shared/Makefile): wheels for
# the Lambda platform, the offerhub package, precompiled bytecode. `make layer` -> build/layer-arm64/python;
# `make layer ARCH=x86_64` -> build/layer-x86_64/python (importable on an x86_64 machine with Python 3.12).
ARCH ?= arm64
LAYER_SOURCES := layers/shared/Makefile layers/shared/requirements.txt layers/shared/requirements-tracing.txt \
                 $(shell find layers/shared/offerhub -type f -not -path '*/__pycache__/*' 2>/dev/null)

layer: build/layer-$(ARCH).stamp

# The stamp carries the build's start time: a source edited while it ran makes the next `make layer` rebuild.
build/layer-%.stamp: $(LAYER_SOURCES)
	@mkdir -p build && touch $@.started
	rm -rf build/layer-$*
	$(MAKE) --no-print-directory -f layers/shared/Makefile build-SharedLayer ARCH=$* ARTIFACTS_DIR=$(abspath build/layer-$*)
	@mv $@.started $@

# Builds both layers (~70 MiB of wheels each, from the package index), checks that every native file of the
# arm64 one is aarch64 and that every handler imports from the x86_64 one (tests/test_layer_build.py).
layer-check: $(STAMP)
	LAYER_BUILD=1 $(PYTHON) -m pytest tests/test_layer_build.py $(PYTEST_ARGS)
