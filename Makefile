# fastauthz — everything runs from a local virtualenv created on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: test dist fuzz demo dev loadtest-local loadtest-local-http loadtest-local-lifetime bench bench-check bench-history bench-baseline bench-fixtures bench-compare package layer deploy-check lint readme coldstart clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make test: the whole suite (unit, property, attacks, integration) — under 10 minutes
test: $(STAMP) lint
	$(BIN)/python -m pytest -q

## make dist: the sdist and wheel (python -m build) in dist/, checked with twine check --strict
dist: $(STAMP)
	rm -rf dist/fastauthz-*.tar.gz dist/fastauthz-*.whl build/lib
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/fastauthz-*.tar.gz dist/fastauthz-*.whl

## make demo: dev issuer + local API Gateway stage on 127.0.0.1, real WebSocket clients, a table of outcomes
demo: $(STAMP)
	$(BIN)/python -m fastauthz.dev.demo

## make dev: issuer (:8766) + stage (:8765) until Ctrl-C; see README "Local stage"
dev: $(STAMP)
	$(BIN)/fastauthz dev

## make readme: regenerate README.md's configuration table from fastauthz/config.py
readme: $(STAMP)
	$(BIN)/python -m tools.readme

LOADTEST_STAMP := $(VENV)/.installed-loadtest

$(LOADTEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,loadtest]'
	touch $(LOADTEST_STAMP)

## make loadtest-local: the README's load tests run from the wheel in a fresh virtualenv (WebSocket and REST,
## single and a master with two workers), then fastauthz loadtest against the local stage (40 s, loopback)
## through a key rotation and an IdP outage
loadtest-local: $(LOADTEST_STAMP)
	$(BIN)/python -m pytest -q loadtest/checks
	$(BIN)/python -m loadtest.run_local

## make loadtest-local-http: the same against the stage's REST front (TOKEN authorizer, 40 s, rotation and outage)
## and its HTTP API 2.0 front with simple responses (20 s): the same thresholds, no wrong decision
loadtest-local-http: $(LOADTEST_STAMP)
	$(BIN)/python -m loadtest.run_local --api rest-token
	$(BIN)/python -m loadtest.run_local --api http-2.0-simple --no-events --run-time 20

## make loadtest-local-lifetime: connections whose tokens expire during a 30 s run must all be closed, on time
loadtest-local-lifetime: $(LOADTEST_STAMP)
	$(BIN)/python -m loadtest.run_local --scenario expiring --run-time 30

BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

## make fuzz: the handler's fuzz target for FUZZ_SECONDS (default 600), keeping its corpus in tests/fuzz/corpus/
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	mkdir -p tests/fuzz/corpus tests/fuzz/crashes
	$(BIN)/python tests/fuzz/fuzz_handler.py -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=tests/fuzz/crashes/ tests/fuzz/corpus

## make bench: the report people read (seconds: per invocation with peers in the same run, interleaved
## ratios, cold start, Lambda's runtime loop) plus the instruction gate's table -> bench/results/, README
bench: $(BENCH_STAMP)
	mkdir -p bench/results
	$(BIN)/python -m pytest bench/test_per_invocation.py --benchmark-only -q --benchmark-autosave \
		--benchmark-json=bench/results/per_invocation.json
	$(BIN)/python -m bench.ratios --json bench/results/ratios.json
	$(BIN)/python -m bench.gate --json bench/results/gate.json || true
	$(BIN)/python -m bench.coldstart --json bench/results/coldstart.json
	$(BIN)/python -m bench.node_per_token --json bench/results/node_per_token.json
	$(BIN)/python -m bench.runtime_cost --json bench/results/runtime_cost.json
	$(BIN)/python -m bench.refresh_cost --json bench/results/refresh_cost.json
	$(BIN)/python -m bench.report

## make bench-check [BASE=<ref>]: the CI regression gate: instructions per call under valgrind (exact: noise
## cannot fail it), head against BASE counted in the same run (any runner), and against this environment's
## budgets in bench/budgets.toml where recorded; exit 1 a regression, 2 the harness could not run
bench-check: $(STAMP)
	$(BIN)/python -m bench.gate $(if $(BASE),--base $(BASE))

## make bench-history: draw the gate's figures over the commits on main (the bench-history branch of origin)
bench-history: $(STAMP)
	$(BIN)/python -m bench.history draw --out bench/results/history.png

## make bench-baseline: lower this environment's baselines in bench/budgets.toml to this commit's counts, never raising one
## (after a change that wins; new fixtures or a new runner image: BASELINE_RESET=1 starts over)
bench-baseline: $(STAMP)
	$(BIN)/python -m bench.gate --baseline $(if $(BASELINE_RESET),--reset)

## make bench-fixtures: mint the gate's tokens again into bench/fixtures/ (then make bench-baseline BASELINE_RESET=1)
bench-fixtures: $(STAMP)
	$(BIN)/python -m bench.mint_fixtures

## make bench-compare: per-invocation run compared with the last saved one (pytest-benchmark, for humans)
bench-compare: $(BENCH_STAMP)
	$(BIN)/python -m pytest bench/test_per_invocation.py --benchmark-only -q --benchmark-compare --benchmark-compare-fail=median:15%

## make package: Lambda zips for x86_64 and arm64 in dist/, for the runtime the templates in deploy/ use
## (PYTHON_VERSION=3.13 for another; SNAPSHOT=<key URL, file or issuer> to ship the current keys)
PYTHON_VERSION ?= 3.12
package: $(STAMP)
	$(BIN)/python -m tools.package --python $(PYTHON_VERSION) $(if $(SNAPSHOT),--snapshot $(SNAPSHOT))

## make layer: Lambda layers (dist/fastauthz-layer-<arch>-py<version>.zip, packages under python/), one per
## architecture and Python version in LAYER_PYTHONS, each checked against its runtime's glibc and bytecode
LAYER_PYTHONS ?= 3.11 3.12
layer: $(STAMP)
	set -e; for version in $(LAYER_PYTHONS); do $(BIN)/python -m tools.package --layer --python $$version; done

## make deploy-check: what a user's tools would run, offline: the zips the templates name (make package, built twice:
## the same bytes or it fails), sam validate --lint and sam build (aws-sam-cli, pinned, in .venv-sam),
## cfn-lint on the SAM template, `serverless package` (v3, pinned in deploy/package.json) when npm exists,
## `terraform fmt -check` when terraform exists, then the WebSocket-authorizer rules on every template and
## on the Framework's generated CloudFormation (permissions scoped, zips that fit their runtime)
SERVERLESS_CFN := deploy/.serverless/cloudformation-template-update-stack.json
SERVERLESS_REST_HTTP_CFN := deploy/.serverless-rest-http/cloudformation-template-update-stack.json
SERVERLESS_LAYER_CFN := deploy/.serverless-layer/cloudformation-template-update-stack.json
# aws-sam-cli in a virtualenv of its own: it pins dependencies of its own (cfn-lint, boto3, ...)
SAM_VENV := .venv-sam
SAM_VERSION := 1.170.0
$(SAM_VENV)/.installed-$(SAM_VERSION):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet 'aws-sam-cli==$(SAM_VERSION)'
	touch $@

deploy-check: $(STAMP) $(SAM_VENV)/.installed-$(SAM_VERSION)
	$(BIN)/python -m tools.package --python $(PYTHON_VERSION) --verify-reproducible
	$(BIN)/cfn-lint deploy/sam/template.yaml deploy/sam/rest-http.yaml
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint -t deploy/sam/template.yaml --region eu-west-1
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint -t deploy/sam/rest-http.yaml --region eu-west-1
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build -t deploy/sam/template.yaml --build-dir .aws-sam/build --region eu-west-1
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build -t deploy/sam/rest-http.yaml --build-dir .aws-sam/build-rest-http --region eu-west-1
	$(SAM_VENV)/bin/python tools/sam_transform.py deploy/sam/template.yaml \
		JwksUri=https://example.com/.well-known/jwks.json Audiences=example > .aws-sam/transformed.json
	$(SAM_VENV)/bin/python tools/sam_transform.py deploy/sam/rest-http.yaml \
		JwksUri=https://example.com/.well-known/jwks.json Audiences=example > .aws-sam/rest-http-transformed.json
	# (each `serverless package` empties deploy/.serverless: the default output is written last)
	rm -rf deploy/.serverless deploy/.serverless-rest-http deploy/.serverless-layer
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix deploy --no-audit --no-fund --silent && \
		cd deploy && SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off ./node_modules/.bin/serverless package --config serverless-rest-http.yml \
			--package .serverless-rest-http \
			--region eu-west-1 --param=jwksUri=https://example.com/.well-known/jwks.json --param=audiences=example && \
		SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off ./node_modules/.bin/serverless package --package .serverless-layer \
			--region eu-west-1 --param=jwksUri=https://example.com/.well-known/jwks.json --param=audiences=example \
			--param=codeFrom=layer --param=layerArn=arn:aws:lambda:eu-west-1:123456789012:layer:fastauthz-arm64-py312:1 && \
		SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off ./node_modules/.bin/serverless package \
			--region eu-west-1 --param=jwksUri=https://example.com/.well-known/jwks.json --param=audiences=example; \
	else echo "deploy-check: npm not found: serverless.yml is checked without the Framework's generated CloudFormation"; fi
	@if command -v terraform >/dev/null 2>&1; then terraform fmt -recursive -check -diff deploy/terraform; \
	else echo "deploy-check: terraform not found: terraform fmt skipped"; fi
	@if command -v npm >/dev/null 2>&1; then test -f $(SERVERLESS_CFN) && test -f $(SERVERLESS_REST_HTTP_CFN) && test -f $(SERVERLESS_LAYER_CFN) || \
		{ echo "deploy-check: serverless package left no CloudFormation to check"; exit 1; }; fi
	$(BIN)/python -m tools.deploycheck deploy/sam/template.yaml .aws-sam/transformed.json deploy/terraform \
		deploy/serverless.yml $$(test -f $(SERVERLESS_CFN) && echo $(SERVERLESS_CFN)) \
		$$(test -f $(SERVERLESS_LAYER_CFN) && echo $(SERVERLESS_LAYER_CFN)) \
		deploy/sam/rest-http.yaml .aws-sam/rest-http-transformed.json \
		deploy/serverless-rest-http.yml $$(test -f $(SERVERLESS_REST_HTTP_CFN) && echo $(SERVERLESS_REST_HTTP_CFN))

## make lint: ruff check and ruff format --check, and mypy --strict over fastauthz, tests, bench and loadtest (locust installed for its types)
lint: $(LOADTEST_STAMP)
	$(BIN)/ruff check fastauthz testkit tests bench loadtest tools
	$(BIN)/ruff format --check fastauthz testkit tests bench loadtest tools
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam build dist *.egg-info .hypothesis
