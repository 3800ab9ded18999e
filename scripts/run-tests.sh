#!/usr/bin/env bash
# Every test: the template lint, then the whole workspace (nextest when installed).
# Expects the environment scripts/with-moto.sh sets up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${PMS_TEST_AWS_ENDPOINT:?run through scripts/with-moto.sh (make test)}"

echo "== cfn-lint template.yaml" >&2
.venv/bin/cfn-lint template.yaml

echo "== module cycles" >&2
python3 scripts/module-cycles.py

# Every test's output (the code's JSON logs included, at debug level) goes to one file that is
# scanned for secrets and card numbers afterwards.
log="$root/target/test-run.log"
mkdir -p "$root/target"
export RUST_LOG="${RUST_LOG:-debug}"
if cargo nextest --version >/dev/null 2>&1; then
  echo "== cargo nextest run --workspace (output: $log)" >&2
  set +e
  # nextest writes progress and the tests' captured output to stderr: all of it goes to the log,
  # and the per-test lines are shown afterwards.
  cargo nextest run ${CARGO_FLAGS:-} --workspace --no-fail-fast \
    --success-output final --failure-output final >"$log" 2>&1
  status=$?
  set -e
  grep -E '^ +(PASS|FAIL|SIGSEGV|SIGABRT|TIMEOUT) |^ +Summary|^error' "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "== tests failed; the failures' output:" >&2
    grep -E -A40 '^\s+FAIL ' "$log" | head -400 >&2 || true
    exit "$status"
  fi
  # nextest does not run doctests.
  echo "== cargo test --workspace --doc" >&2
  cargo test ${CARGO_FLAGS:-} --workspace --doc
else
  echo "== cargo test --workspace" >&2
  cargo test ${CARGO_FLAGS:-} --workspace --no-fail-fast -- --nocapture >"$log" 2>&1 || { tail -200 "$log" >&2; exit 1; }
fi

echo "== secrets scan" >&2
python3 "$root/scripts/scan-secrets.py" "$log"
