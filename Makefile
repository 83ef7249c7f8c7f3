# CQC Makefile: a thin wrapper. It bootstraps .venv with pinned nox, then every target is a nox session.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules

PYTHON ?= python3.11
VENV := .venv
NOX := $(VENV)/bin/nox

$(NOX): tools/requirements-nox.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tools/requirements-nox.txt
	touch $(NOX)

.PHONY: help
help: ## Show this help (the default target)
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

.PHONY: generate
generate: $(NOX) ## Regenerate Python, Go and TypeScript code from proto/
	$(NOX) -s generate

.PHONY: test
test: $(NOX) ## Everything CI runs: lint, breaking, check-generated, package tests, conformance, interop, release-check
	$(NOX) -s test

.PHONY: lint
lint: $(NOX) ## buf format check and buf lint (STANDARD + COMMENTS)
	$(NOX) -s lint

.PHONY: format
format: $(NOX) ## Rewrite protos in buf's canonical format
	$(NOX) -s format

.PHONY: release-check
release-check: $(NOX) ## Build the three release artifacts, run consumer smoke tests on them (see docs/RELEASING.md)
	$(NOX) -s release-check

.PHONY: conformance
conformance: $(NOX) ## The shared case corpus in Python, Go and TypeScript, cross-decoded (testdata/conformance)
	$(NOX) -s conformance

.PHONY: interop
interop: $(NOX) ## Reference servers + clients of every language on 127.0.0.1: the client x server matrix
	$(NOX) -s interop

.PHONY: bench
bench: $(NOX) ## Encode/decode/validate benchmarks in all three languages (docs/BENCHMARKS.md)
	$(NOX) -s bench

.PHONY: sessions
sessions: $(NOX) ## List every nox session
	$(NOX) -l

.PHONY: clean
clean: ## Remove virtualenvs, build output and node_modules
	rm -rf $(VENV) .nox .build packages/typescript/node_modules packages/typescript/dist examples/typescript/node_modules
