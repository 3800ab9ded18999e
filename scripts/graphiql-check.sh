#!/usr/bin/env bash
# GraphiQL in headless Chromium against the graphql function's real handler (served over HTTP
# by the graphql-serve test binary on a private moto): loads with no CDN, a typed query
# returns data. Needs Debian's chromium (`apt-get install -y chromium`), node and npm.
# usage: scripts/graphiql-check.sh [screenshot.png]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null || {
  echo "graphiql-check: chromium not found; install it with: apt-get install -y chromium" >&2
  exit 2
}
node scripts/graphiql/init.test.mjs
npm ci --prefix scripts/graphiql --no-audit --no-fund --silent
cargo build ${CARGO_FLAGS:-} -q -p pms-tests --bin graphql-serve
shot=${1:+$(realpath -m "$1")}
exec scripts/with-moto.sh bash -c '
  set -euo pipefail
  out=$(mktemp) log=$(mktemp)
  target/debug/graphql-serve >"$out" 2>"$log" &
  pid=$!
  trap "kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f \"$out\" \"$log\"" EXIT
  for _ in $(seq 300); do
    [ -s "$out" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  [ -s "$out" ] || { echo "graphql-serve did not start" >&2; cat "$log" >&2; exit 1; }
  node scripts/graphiql/check.mjs "$(head -n1 "$out")" '"${shot:-}"'
'
