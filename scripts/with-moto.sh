#!/usr/bin/env bash
# Run a command against a private moto server on a free loopback port, then stop that server,
# whatever the command's outcome. Works whether or not `make dev` (port 5055) is running.
# usage: scripts/with-moto.sh <command> [args...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv/bin"
[ -x "$venv/moto_server" ] || { echo "with-moto: $venv/moto_server missing; run 'make tools'" >&2; exit 2; }

# Ask the kernel for a free port (a small race with other processes is possible, not likely).
port=$("$venv/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp -t moto-test.XXXXXX.log)
# MOTO_SERIAL=1: one request at a time, so conditional writes are atomic as in DynamoDB (see
# scripts/moto-serial.py; the chaos suite runs so).
if [ "${MOTO_SERIAL:-0}" = 1 ]; then
  "$venv/python" "$root/scripts/moto-serial.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
else
  "$venv/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
fi
moto_pid=$!
cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$log"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

endpoint="http://127.0.0.1:$port"
for _ in $(seq 150); do
  if "$venv/python" -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1]+"/moto-api/", timeout=1)' "$endpoint" 2>/dev/null; then
    ready=1; break
  fi
  kill -0 "$moto_pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "${ready:-}" ]; then
  echo "with-moto: moto_server did not start on $endpoint; its log:" >&2
  cat "$log" >&2
  exit 2
fi

export AWS_ENDPOINT_URL="$endpoint" PMS_TEST_AWS_ENDPOINT="$endpoint"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
echo "with-moto: moto_server on $endpoint (pid $moto_pid$([ "${MOTO_SERIAL:-0}" = 1 ] && echo ", serial"))" >&2
"$@"
