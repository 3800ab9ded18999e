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
  moto_server -H 127.0.0.1 -p "$moto_port" >/tmp/schemathesis-moto.log 2>&1 &
  pids+=($!)
  export PMS_TEST_AWS_ENDPOINT="http://127.0.0.1:$moto_port"
  for _ in $(seq 1 50); do curl -fs "$PMS_TEST_AWS_ENDPOINT/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done
fi
export AWS_ENDPOINT_URL="$PMS_TEST_AWS_ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

eval "$(python3 scripts/provision-local.py)"
hotel="st-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
cargo build -q -p pms-infra --bin pmsctl
pmsctl=target/debug/pmsctl
$pmsctl hotel add --hotel "$hotel" --provider mock --time-zone Europe/Prague --currency EUR \
  --property-id 318267 >/dev/null
token=$($pmsctl token create --hotel "$hotel" --scope ingest --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
pkey=$($pmsctl webhook partner-key --hotel "$hotel" --partner schemathesis --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["providerKey"])')
wsecret=$($pmsctl webhook secret --hotel "$hotel" --base-url http://local --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["urls"]["cloudbeds"].rsplit("/",1)[1])')
export ST_HOTEL="$hotel" ST_WEBHOOK_SECRET="$wsecret"

port=$(free_port)
[[ "$port" == 9000 ]] && port=$(free_port)
envs=()
for v in TABLE_NAME SYNC_QUEUE_URL SYNC_DLQ_URL WRITE_QUEUE_URL WRITE_DLQ_URL EVENT_BUS_NAME \
  SECRETS_PREFIX TOKEN_KEY_SECRET METRICS_NAMESPACE AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID \
  AWS_SECRET_ACCESS_KEY AWS_REGION; do envs+=(--env-var "$v=${!v}"); done
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" -p webhook --bin webhook \
  "${envs[@]}" >/tmp/schemathesis-watch.log 2>&1 &
pids+=($!)
base="http://127.0.0.1:$port/lambda-url/webhook"
echo "waiting for the function at $base ..."
for _ in $(seq 1 600); do curl -fs "$base/openapi.json" >/dev/null 2>&1 && break; sleep 1; done
curl -fs "$base/openapi.json" >/dev/null || { echo "the function did not start; see /tmp/schemathesis-watch.log"; exit 1; }

schemathesis --config-file scripts/schemathesis.toml run functions/webhook/openapi.json \
  --url "$base" \
  -H "Authorization: Bearer $token" -H "X-Provider-Key: $pkey" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,unsupported_method,allow_header_conformance \
  --max-examples "${ST_MAX_EXAMPLES:-40}" ${ST_SEED:+--seed "$ST_SEED"} \
  --workers 1 --request-timeout 30
