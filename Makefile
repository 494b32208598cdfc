# shipper: `make help` lists the targets.
#
# Integration tests are Go tests behind the build tag `integration`; they read
# ELASTICSEARCH_URL (internal/testutil/estest) and KAFKA_BROKERS
# (internal/testutil/kafkatest). `make test-integration` starts a throw-away
# Elasticsearch with scripts/elasticsearch.sh and a Kafka broker with
# scripts/kafka.sh unless ELASTICSEARCH_URL / KAFKA_BROKERS are already set
# (e.g. after `eval "$(make -s es-start)"`, `eval "$(make -s kafka-start)"`).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
ES        := scripts/elasticsearch.sh
KAFKA     := scripts/kafka.sh
GOTESTFLAGS ?=
# Per test binary: a hung test fails fast instead of eating the CI budget (go's default is 10m).
UNIT_TIMEOUT        ?= 5m
INTEGRATION_TIMEOUT ?= 20m
DEMO_FLAGS    ?= --load --duration 5s
SHIPPER_FLAGS ?= --dataset=demo
# The demo's data stream, for `make show` after `make run`.
SHOW_INDEX    ?= logs-demo-*

.PHONY: help build test prereqs lint test-unit test-integration bench bench-wholepath bench-jsonvalid chaos \
	es-fetch es-start es-stop es-status kafka-start kafka-stop run show

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_.-]+:.*## / { printf "  %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## build the binaries of ./cmd/... into bin/
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

test: prereqs lint test-unit test-integration ## formatting and vet, unit tests, then integration tests against a real Elasticsearch

prereqs: ## install what the tests need when missing (gcc for -race, Python's and Node's fluent-logger and logging libraries): scripts/prereqs.sh
	@scripts/prereqs.sh

lint: ## gofmt and go vet (with and without the integration tag; deploy/ and bench/jsonvalid/ too)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./...
	cd deploy && $(GO) vet ./...
	cd bench/jsonvalid && $(GO) vet ./...

test-unit: ## unit tests (no Elasticsearch needed), then the manifest tests of deploy/ (a module of its own)
	$(GO) test -race -timeout $(UNIT_TIMEOUT) $(GOTESTFLAGS) ./...
	cd deploy && $(GO) test -timeout $(UNIT_TIMEOUT) $(GOTESTFLAGS) ./...

test-integration: ## integration tests (-tags integration) against a real Elasticsearch and a real Kafka broker
	@cmd=($(GO) test -race -tags integration -count=1 -timeout $(INTEGRATION_TIMEOUT) $(GOTESTFLAGS) ./...); \
	if [[ -n "$${KAFKA_BROKERS:-}" ]]; then echo "using KAFKA_BROKERS=$$KAFKA_BROKERS"; \
	else cmd=($(KAFKA) run -- "$${cmd[@]}"); fi; \
	if [[ -n "$${ELASTICSEARCH_URL:-}" ]]; then echo "using ELASTICSEARCH_URL=$$ELASTICSEARCH_URL"; \
	else cmd=($(ES) run -- "$${cmd[@]}"); fi; \
	"$${cmd[@]}"

# Fault-injection and crash tests are integration tests named TestChaos*. Inside
# `make test` they run in a short form; `make chaos` runs them in full
# (SHIPPER_CHAOS=full: more lines, more faults, more kills).
CHAOS_TIMEOUT ?= 40m

chaos: ## fault-injection and crash-and-rotate tests in full, against a real Elasticsearch and Kafka
	@cmd=(env SHIPPER_CHAOS=full $(GO) test -tags integration -count=1 -run Chaos -v -timeout $(CHAOS_TIMEOUT) $(GOTESTFLAGS) ./...); \
	if [[ -n "$${KAFKA_BROKERS:-}" ]]; then echo "using KAFKA_BROKERS=$$KAFKA_BROKERS"; \
	else cmd=($(KAFKA) run -- "$${cmd[@]}"); fi; \
	if [[ -n "$${ELASTICSEARCH_URL:-}" ]]; then echo "using ELASTICSEARCH_URL=$$ELASTICSEARCH_URL"; \
	else cmd=($(ES) run -- "$${cmd[@]}"); fi; \
	"$${cmd[@]}"

bench: ## benchmarks (the whole-path table of docs/benchmarks.md is BenchmarkWholePath), then bench-jsonvalid
	$(GO) test -run '^$$' -bench . -benchmem $(GOTESTFLAGS) ./...
	@$(MAKE) --no-print-directory bench-jsonvalid

bench-jsonvalid: ## JSON validation by other libraries beside the shipper's parser, per corpus line (a module of its own)
	cd bench/jsonvalid && $(GO) test -run '^$$' -bench . -benchmem -count=3 $(GOTESTFLAGS) .

bench-wholepath: ## only the whole-path table: built binary vs the floor on the realistic corpus
	$(GO) test -run '^$$' -bench WholePath -benchtime=1x $(GOTESTFLAGS) ./cmd/shipper/

kafka-start: ## start a local Kafka broker (prints `export KAFKA_BROKERS=...`)
	@$(KAFKA) start

kafka-stop: ## stop the Kafka broker started by kafka-start
	@$(KAFKA) stop

es-fetch: ## download Elasticsearch into the cache (~/.cache/shipper)
	@$(ES) fetch

es-start: ## start a local Elasticsearch (prints `export ELASTICSEARCH_URL=...`)
	@$(ES) start

es-stop: ## stop the Elasticsearch started by es-start or run
	@$(ES) stop

es-status: ## is the local Elasticsearch running?
	@$(ES) status

run: build ## demo: demo-app | shipper into Elasticsearch (started if ELASTICSEARCH_URL is unset), then show
	@if [[ -z "$${ELASTICSEARCH_URL:-}" ]]; then \
		es_env=$$($(ES) start); eval "$$es_env"; \
		echo "Elasticsearch stays running at $$ELASTICSEARCH_URL: \`make es-stop\` when done"; \
	fi; \
	export ELASTICSEARCH_URL; \
	echo "PORT=0 bin/demo-app $(DEMO_FLAGS) | bin/shipper $(SHIPPER_FLAGS)"; \
	PORT=0 bin/demo-app $(DEMO_FLAGS) | bin/shipper $(SHIPPER_FLAGS); \
	SHOW_INDEX='$(SHOW_INDEX)' scripts/show.sh

show: ## print what landed in logs-* (needs ELASTICSEARCH_URL, or a node from es-start)
	@if [[ -z "$${ELASTICSEARCH_URL:-}" ]] && es_env=$$($(ES) status); then \
		eval "$$(grep '^export ' <<<"$$es_env")"; \
	fi; \
	SHOW_INDEX='$(SHOW_INDEX)' scripts/show.sh

# ---- demo stack (docker-compose.yml) and one-off admin tasks -------------------
# Configuration comes from the environment (twelve-factor), as for bin/shipper:
#   make setup ELASTICSEARCH_URL=https://es:9200 KIBANA_URL=https://kb:5601
# plus ELASTICSEARCH_USERNAME/PASSWORD or ELASTICSEARCH_API_KEY when security is on.
COMPOSE     ?= docker compose
SERVICE     ?=
SETUP_FLAGS ?=

.PHONY: up down logs setup

up: ## demo stack: Elasticsearch, Kibana, setup, shipper, demo-app (docker compose; waits until healthy)
	$(COMPOSE) up --build --detach --wait
	@echo "Kibana: http://localhost:5601 (dashboard \"Shipper: logs overview\"); \`make logs\` to follow, \`make down\` to remove"

down: ## stop the demo stack and delete its containers, network and data volume
	$(COMPOSE) down --volumes --remove-orphans

logs: ## follow the demo stack's logs (SERVICE=shipper for one service)
	$(COMPOSE) logs --follow --tail=100 $(SERVICE)

setup: build ## install the index templates and the Kibana objects: bin/shipper setup against ELASTICSEARCH_URL and KIBANA_URL (SETUP_FLAGS=--only=elasticsearch)
	bin/shipper setup $(SETUP_FLAGS)
