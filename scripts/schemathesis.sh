#!/usr/bin/env bash
# Runs schemathesis against the webhook function's OpenAPI document, with the function running
# locally under `cargo lambda watch` over a local stack on moto. Fails on any 5xx, any answer
# the document does not declare (status, content type, headers) and any body that violates its
# schema.
#
# Needs the pinned tools (moto, cargo-lambda, schemathesis) in .venv: `make tools`, or
#   python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-tools.txt
# Uses PMS_TEST_AWS_ENDPOINT when set (an already running moto), else starts its own moto on a
# free port. The function listens on a free port (never 9000, which `make dev` uses).
#
# Env: ST_MAX_EXAMPLES (default 40 per operation), ST_SEED (reproducible runs).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

if [[ -z "${PMS_TEST_AWS_ENDPOINT:-}" ]]; then
  moto_port=$(free_port)
[[ "$port" == 9000 ]] && port=$(free_port)
envs=()
for v in TABLE_NAME SYNC_QUEUE_URL SYNC_DLQ_URL WRITE_QUEUE_URL WRITE_DLQ_URL EVENT_BUS_NAME \
  SECRETS_PREFIX TOKEN_KEY_SECRET METRICS_NAMESPACE AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID \
  AWS_SECRET_ACCESS_KEY AWS_REGION; do envs+=(--env-var "$v=${!v}"); done
if [[ "${ST_WATCH_BUILD:-0}" == 1 ]]; then
  # cargo lambda builds and runs the function itself (builds `-p webhook` on its own, which
  # with a workspace-built target means a second build of the dependencies).
  fn=webhook
  cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" -p webhook --bin webhook \
    "${envs[@]}" >/tmp/schemathesis-watch.log 2>&1 &
  pids+=($!)
else
  # cargo lambda serves the Lambda runtime API and the function URL; the function is the
  # workspace-built binary, connected to that runtime API.
  fn=_
  cargo build -q --workspace --bins
  cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$port" \
    >/tmp/schemathesis-watch.log 2>&1 &
  pids+=($!)
  sleep 2
  AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_FUNCTION_NAME=_ \
    AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt" target/debug/webhook \
    >/tmp/schemathesis-function.log 2>&1 &
  pids+=($!)
fi
base="http://127.0.0.1:$port/lambda-url/$fn"
echo "waiting for the function at $base ..."
for _ in $(seq 1 600); do curl -fs "$base/openapi.json" >/dev/null 2>&1 && break; sleep 1; done
curl -fs "$base/openapi.json" >/dev/null || { echo "the function did not start; see /tmp/schemathesis-watch.log"; exit 1; }

schemathesis --config-file scripts/schemathesis.toml run functions/webhook/openapi.json \
  --url "$base" \
  -H "Authorization: Bearer $token" -H "X-Provider-Key: $pkey" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,unsupported_method,allow_header_conformance \
  --max-examples "${ST_MAX_EXAMPLES:-40}" ${ST_SEED:+--seed "$ST_SEED"} \
  --workers 1 --request-timeout 30
