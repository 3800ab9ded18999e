# Two entry points for people: `make dev` (the local stack) and `make test` (every test).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV  := .venv
# Extra cargo flags; CI sets --locked.
CARGO_FLAGS ?=
PY    ?= python3
STAMP := $(VENV)/.tools-installed

.PHONY: help dev test lint tools schemathesis graphiql-check bench-sync chaos fuzz release bench

help:
	@echo "make dev    - local stack: moto, provisioned template, demo hotel, cargo lambda watch, event driver"
	@echo "make test   - cfn-lint + every Rust test against a private moto server"
	@echo "make lint   - rustfmt check + no module cycles + one feature set (workspace-hack) + clippy (-D warnings)"
	@echo "make chaos  - 1000 seeded chaos rounds in shards on fresh motos (CHAOS_SEED, CHAOS_ROUNDS, CHAOS_SHARD, CHAOS_JOBS, CHAOS_BACKEND); fails on any broken invariant"
	@echo "make graphiql-check - GraphiQL in headless Chromium against the graphql function"
	@echo "make bench-sync - scheduled sync of 10 000 reservations per vendor: vendor calls, table writes, wall time"
	@echo "make tools  - pinned Python tools in $(VENV) (moto, cfn-lint, cargo-lambda, schemathesis)"
	@echo "make schemathesis - fuzz the webhook function from its OpenAPI document (under cargo lambda watch)"
	@echo "make fuzz   - every cargo-fuzz target for FUZZ_SECONDS (25) each (needs cargo-fuzz)"
	@echo "make release - every function in one cargo lambda release build (target/lambda/<fn>/, the template's CodeUri)"
	@echo "make bench  - release build + benchmarks; figures printed and written to docs/BENCHMARKS.md"

tools: $(STAMP)

# The stamp is newer than the requirements file once they are installed, so this is a no-op
# when nothing changed.
$(STAMP): scripts/requirements-tools.txt
	@test -x $(VENV)/bin/pip || $(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-tools.txt
	@touch $(STAMP)

dev: tools
	cargo run $(CARGO_FLAGS) -q -p pms-local --bin pms-local -- up

lint:
	cargo fmt --all -- --check
	python3 scripts/module-cycles.py
	python3 scripts/workspace-hack.py
	cargo clippy $(CARGO_FLAGS) --workspace --all-targets -- -D warnings

# with-moto.sh starts a private moto server on a free loopback port (so `make dev` can keep
# running) and stops it on exit, whatever the outcome.
test: tools
	scripts/with-moto.sh scripts/run-tests.sh

# The chaos suite (tests/src/chaos): 1000 randomized, seeded rounds against the vendor simulators
# and the AWS adapters, in shards of 100 rounds each on its own fresh moto, two at a time
# (scripts/chaos.sh). Prints its seed (rerun with CHAOS_SEED=...) and exits non-zero when any
# invariant is broken. CHAOS_ROUNDS, CHAOS_SHARD, CHAOS_JOBS, CHAOS_BACKEND=memory|mixed: see the docs.
chaos: tools
	cargo build $(CARGO_FLAGS) -q -p pms-tests --bin chaos
	scripts/chaos.sh

# The webhook function under cargo lambda watch over a private moto, fuzzed from its OpenAPI
# document: no 5xx, no undocumented status, header or content type, no schema violation.
schemathesis: tools
	scripts/with-moto.sh scripts/schemathesis.sh

# GraphiQL in headless Chromium against the graphql function (needs: apt-get install -y chromium).
graphiql-check: tools
	scripts/graphiql-check.sh

# Parsers and vendor decoders under libFuzzer (tests/fuzz), a bounded time per target; a crash
# fails the run and leaves its input in target/fuzz/artifacts/. See docs/FUZZING.md.
fuzz:
	scripts/fuzz.sh

# What `sam deploy` uploads: one release build of every function of template.yaml.
release: tools
	scripts/release.sh

# Figures, never assertions on time; not part of `make test`. See docs/BENCHMARKS.md.
bench: tools
	scripts/bench.sh

# The scheduled sync of one hotel with 10 000 reservations, per vendor, on the simulators and a
# private moto: vendor calls against a lower bound, table writes of a first and an unchanged
# re-sync, wall time, worker invocations and the longest (feed runs continue across invocations
# at 60 % of the 300 s timeout). BENCH_SYNC_ARGS="--vendor mews --reservations 2000" narrows it;
# "--vendor mews --reservations 100000 --first-only" is the large-property first sync.
bench-sync: tools
	RUST_LOG=error scripts/with-moto.sh cargo run $(CARGO_FLAGS) --release -q -p pms-tests --example sync_bench -- $(BENCH_SYNC_ARGS)
