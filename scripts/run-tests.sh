#!/usr/bin/env bash
# Every test: the template lint, then the whole workspace (nextest when installed).
# Expects the environment scripts/with-moto.sh sets up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${PMS_TEST_AWS_ENDPOINT:?run through scripts/with-moto.sh (make test)}"

echo "== cfn-lint template.yaml" >&2
.venv/bin/cfn-lint template.yaml

if cargo nextest --version >/dev/null 2>&1; then
  echo "== cargo nextest run --workspace" >&2
  cargo nextest run ${CARGO_FLAGS:-} --workspace --no-fail-fast
  # nextest does not run doctests.
  echo "== cargo test --workspace --doc" >&2
  cargo test ${CARGO_FLAGS:-} --workspace --doc
else
  echo "== cargo test --workspace" >&2
  cargo test ${CARGO_FLAGS:-} --workspace --no-fail-fast
fi
