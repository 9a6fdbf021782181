# The FChat gateway. `make dev` runs the whole product locally; `make test` runs every test.
SHELL := /bin/bash
VENV := .venv
DEPLOY_VENV := .venv-deploy
PYTHON ?= python3
FUNCTIONS := ingest delivery callback
STACK ?= fchat-gateway
export SAM_CLI_TELEMETRY := 0

.PHONY: help dev test test-unit alertmanager chromium lint lint-template lint-openapi lint-docs fmt venv venv-deploy arm64-target build sam-build bench deploy logs delete clean

## help: list the targets
help:
	@grep -E '^## [a-z0-9-]+:' $(MAKEFILE_LIST) | sed -E 's/^## ([a-z0-9-]+): /  \1\t/' | expand -t 16

## dev: run the whole product locally (emulated DynamoDB/SQS, the real function binaries)
dev: venv
	bash infra/local/dev.sh

## test: unit, adapter (against moto) and end-to-end tests (a real Alertmanager and headless Chromium included)
test: venv alertmanager chromium
	cargo test --workspace

## alertmanager: Debian's prometheus-alertmanager, for the alert routes' end-to-end test
alertmanager:
	bash infra/local/install-alertmanager.sh

## chromium: Debian's chromium, for the console's browser test
chromium:
	bash infra/local/install-chromium.sh

## test-unit: the unit tests alone: no emulator, seconds once built
test-unit:
	cargo test --workspace --lib --bins

## lint: formatting, clippy (warnings are errors), the SAM template, the API's OpenAPI document
## and the CloudFormation snippets of docs/aws-sources.md
lint: lint-template lint-openapi lint-docs
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## lint-template: sam validate --lint and cfn-lint on template.yaml (offline)
lint-template: venv-deploy
	$(DEPLOY_VENV)/bin/sam validate --lint --region us-east-1 --template template.yaml
	$(DEPLOY_VENV)/bin/cfn-lint template.yaml

## lint-docs: cfn-lint on every CloudFormation template in docs/aws-sources.md (offline)
lint-docs: venv-deploy
	$(PYTHON) infra/lint-doc-templates.py $(DEPLOY_VENV)/bin/cfn-lint docs/aws-sources.md

## lint-openapi: docs/openapi.yaml against the OpenAPI 3.1 specification (offline)
lint-openapi: venv-deploy
	$(DEPLOY_VENV)/bin/openapi-spec-validator docs/openapi.yaml

## arm64-target: Rust's standard library for aarch64-unknown-linux-gnu (rustup, once)
arm64-target:
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

## build: arm64 release zips of the three functions, with their sizes
build: venv-deploy arm64-target
	PATH="$$PWD/$(DEPLOY_VENV)/bin:$$PATH" cargo-lambda lambda build --release --arm64 --output-format zip $(addprefix -p ,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do \
	  zip=$${CARGO_TARGET_DIR:-target}/lambda/$$f/bootstrap.zip; \
	  printf '%-10s %s  %s bytes\n' "$$f" "$$zip" "$$(stat -c %s $$zip)"; \
	done

## bench: benchmarks against their budgets; writes docs/benchmarks.md and docs/cost.md
## (BENCH_ARGS='--runs 31 --messages 2000' measures longer; the functions' logs go to
## target/bench-functions.log)
bench: venv build
	cargo build --release -p ingest -p delivery -p callback -p fchat-bench
	$${CARGO_TARGET_DIR:-target}/release/fchat-bench $(BENCH_ARGS) > $${CARGO_TARGET_DIR:-target}/bench-functions.log

## sam-build: the deployment package as `make deploy` builds it (sam build, cargo-lambda builder,
## no Docker) in .aws-sam/build
sam-build: venv-deploy arm64-target
	PATH="$$PWD/$(DEPLOY_VENV)/bin:$$PATH" $(DEPLOY_VENV)/bin/sam build --beta-features

## deploy: sam build and deploy (guided the first time, then from samconfig.toml)
deploy: sam-build
	@if [ -f samconfig.toml ]; then \
	  $(DEPLOY_VENV)/bin/sam deploy; \
	else \
	  $(DEPLOY_VENV)/bin/sam deploy --guided --stack-name $(STACK) --capabilities CAPABILITY_IAM; \
	fi

## logs: tail the deployed functions' logs
logs: venv-deploy
	$(DEPLOY_VENV)/bin/sam logs --stack-name $(STACK) --tail

## delete: delete the deployed stack
delete: venv-deploy
	$(DEPLOY_VENV)/bin/sam delete --stack-name $(STACK)

fmt:
	cargo fmt --all

## venv: the pinned Python tools for dev and test (moto's server, schemathesis) in .venv
venv: $(VENV)/.installed

$(VENV)/.installed: infra/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $@

## venv-deploy: the pinned packaging, deployment and lint tools (zig, cargo-lambda, SAM CLI, cfn-lint,
## openapi-spec-validator)
venv-deploy: $(DEPLOY_VENV)/.installed

$(DEPLOY_VENV)/.installed: infra/requirements-deploy.txt
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-deploy.txt
	touch $@

clean:
	cargo clean
	rm -rf $(VENV) $(DEPLOY_VENV) .dev .aws-sam
