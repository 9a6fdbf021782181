# The FChat gateway. `make dev` runs the whole product locally; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
PYTHON ?= python3

.PHONY: dev test lint fmt venv clean

## dev: run the whole product locally (emulated DynamoDB/SQS, the real function binaries)
dev: venv
	bash infra/local/dev.sh

## test: unit, adapter (against moto) and end-to-end tests
test: venv
	cargo test --workspace

## lint: formatting and clippy, warnings are errors
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## venv: the pinned Python tools (moto's server, cargo-lambda) in .venv
venv: $(VENV)/.installed

$(VENV)/.installed: infra/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $@

clean:
	cargo clean
	rm -rf $(VENV) .dev
