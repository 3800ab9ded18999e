#!/usr/bin/env bash
# Runs schemathesis against the webhook function's OpenAPI document, with the function running
# locally under `cargo lambda watch`, over a stack provisioned from template.yaml on moto.
# Fails on any 5xx, on any answer the document does not declare (status, content type,
# headers), on any body that violates its schema, and on schema-invalid input that is accepted.
#
# Needs the pinned tools (moto, cargo-lambda, schemathesis) in .venv: `make tools`.
# `make schemathesis` runs it against a private moto (scripts/with-moto.sh); it also works on
# its own, starting its own moto. The function listens on a free port (never 9000, which
# `make dev` uses).
#
# By default cargo lambda watch serves the Lambda runtime API and the function URL and the
# function is the workspace-built binary (one build of the dependencies for everything);
# ST_WATCH_BUILD=1 lets cargo lambda build and start the function itself.
# Env: ST_MAX_EXAMPLES (default 40 per operation), ST_SEED (reproducible runs).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_FLAGS=${CARGO_FLAGS:-}
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
  for _ in $(seq 1 100); do curl -fs "$PMS_TEST_AWS_ENDPOINT/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done
fi
export AWS_ENDPOINT_URL="$PMS_TEST_AWS_ENDPOINT" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1

# Same targets as `make test` builds (tests unify dev-dependency features), so nothing is
# built twice.
cargo build -q $CARGO_FLAGS --workspace --tests --bins
stack="st-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
# The stack from template.yaml, its environment contract exported here.
eval "$(target/debug/pms-local provision --stack "$stack" --endpoint "$PMS_TEST_AWS_ENDPOINT" \
  | python3 -c 'import json,shlex,sys; [print(f"export {k}={shlex.quote(v)}") for k,v in json.load(sys.stdin)["env"].items()]')"

# A hotel on the mock PMS with a partner token (ingest), a provider key and a webhook secret.
pmsctl=target/debug/pmsctl
hotel="st-$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
$pmsctl hotel add --hotel "$hotel" --provider mock --time-zone Europe/Prague --currency EUR \
  --property-id 318267 >/dev/null
field() { python3 -c "import json,sys; print($1)"; }
token=$($pmsctl token create --hotel "$hotel" --scope ingest --json | field 'json.load(sys.stdin)["token"]')
pkey=$($pmsctl webhook partner-key --hotel "$hotel" --partner schemathesis --json | field 'json.load(sys.stdin)["providerKey"]')
wsecret=$($pmsctl webhook secret --hotel "$hotel" --base-url http://local --json \
  | field 'json.load(sys.stdin)["urls"]["cloudbeds"].rsplit("/", 1)[1]')
export ST_HOTEL="$hotel" ST_WEBHOOK_SECRET="$wsecret"

port=$(free_port)
[[ "$port" == 9000 ]] && port=$(free_port)
if [[ "${ST_WATCH_BUILD:-0}" == 1 ]]; then
  envs=()
  for v in TABLE_NAME SYNC_QUEUE_URL SYNC_DLQ_URL REFRESH_QUEUE_URL REFRESH_DLQ_URL WRITE_QUEUE_URL WRITE_DLQ_URL DELIVERY_QUEUE_URL DELIVERY_DLQ_URL EVENT_BUS_NAME \
    SECRETS_PREFIX TOKEN_KEY_SECRET METRICS_NAMESPACE AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID \
    AWS_SECRET_ACCESS_KEY AWS_REGION; do envs+=(--env-var "$v=${!v}"); done
  fn=webhook
  cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" -p webhook --bin webhook \
    "${envs[@]}" >/tmp/schemathesis-watch.log 2>&1 &
  pids+=($!)
else
  fn=_
  cargo lambda watch --only-lambda-apis --invoke-address 127.0.0.1 --invoke-port "$port" \
    >/tmp/schemathesis-watch.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do grep -q "starting Runtime server" /tmp/schemathesis-watch.log 2>/dev/null && break; sleep 0.2; done
  AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256 AWS_LAMBDA_FUNCTION_NAME=_ \
    AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$port/.rt" target/debug/webhook \
    >/tmp/schemathesis-function.log 2>&1 &
  pids+=($!)
fi
base="http://127.0.0.1:$port/lambda-url/$fn"
echo "waiting for the function at $base ..." >&2
for _ in $(seq 1 900); do curl -fs "$base/openapi.json" >/dev/null 2>&1 && break; sleep 1; done
# The document the function serves: the committed part plus each webhook vendor's path.
spec=$(mktemp -t openapi.XXXXXX.json)
# A few tries: on a loaded machine the relay of `cargo lambda watch` can drop one answer.
got=0
for _ in 1 2 3 4 5; do curl -fs "$base/openapi.json" >"$spec" && { got=1; break; }; sleep 2; done
[[ $got == 1 ]] || { echo "the function did not start; see /tmp/schemathesis-*.log" >&2; exit 1; }

# Requests API Gateway cannot carry are not generated (see the hooks module).
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$PWD/scripts${PYTHONPATH:+:$PYTHONPATH}" \
schemathesis --config-file scripts/schemathesis.toml run "$spec" \
  --url "$base" \
  -H "Authorization: Bearer $token" -H "X-Provider-Key: $pkey" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,unsupported_method,allow_header_conformance \
  --max-examples "${ST_MAX_EXAMPLES:-40}" ${ST_SEED:+--seed "$ST_SEED"} \
  --workers 1 --request-timeout 30 "$@"
