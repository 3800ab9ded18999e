#!/usr/bin/env bash
# `make bench`: every benchmark, printed, and written to docs/BENCHMARKS.md with the commit and
# machine measured. Figures only: nothing here asserts a time.
#   1. the release build of every function plus a hello-world lambda_runtime baseline, in one
#      cargo lambda build (timed), and each bootstrap's size and zipped size (what Lambda stores);
#   2. bulk upsert: the store's batch upsert against raw BatchWriteItem on the same moto;
#   3. GraphQL `bookings` latency at 1 000 and 100 000 items;
#   4. each function's init time and memory against the hello-world, through a local Lambda
#      Runtime API, under load;
#   5. `make bench-sync` when the Makefile has it (sync vendor calls and writes).
# The harnesses (2-4) run in the dev profile by default, sharing `make test`'s build; the code
# measured in 4 is the release build. BENCH_PROFILE=release builds the harnesses optimised too.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out="$root/target/bench"
mkdir -p "$out"
report="$out/results.md"
doc="$root/docs/BENCHMARKS.md"
# docs/BENCHMARKS.md keeps its notes above this line and gets the new results below it.
marker='<!-- Results: written by `make bench` below this line. -->'
profile=${BENCH_PROFILE:-dev}
run_flags=(${CARGO_FLAGS:-} -q -p pms-tests)
[ "$profile" = release ] && run_flags+=(--release)

commit=$(git rev-parse --short=12 HEAD)
git diff --quiet HEAD -- . ':!docs/BENCHMARKS.md' || commit="$commit (with uncommitted changes)"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')

section() { printf '\n## %s\n\n' "$1" >>"$report"; }
# Runs a command, shows its output, and records both in the report.
record() {
  local title=$1; shift
  section "$title"
  printf '`%s`\n\n```\n' "$*" >>"$report"
  echo "== $title: $*" >&2
  "$@" 2> >(tee -a "$out/bench.log" >&2) | tee -a "$report"
  printf '```\n' >>"$report"
}

cat >"$report" <<EOF
Measured by \`make bench\` (scripts/bench.sh) on commit \`$commit\`, $(date -u +%Y-%m-%d).
Machine: $cpu, $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; shared with other builds,
so absolute times vary between runs; compare figures within one run. AWS is moto
$("$root/.venv/bin/python" -c 'import moto; print(moto.__version__)') on loopback (a Python
emulator: far slower than DynamoDB, but the same for every variant). $(rustc --version).
Harness profile: $profile.
EOF

# 1. Release build and sizes.
section "Release build and bootstrap sizes"
started=$SECONDS
RELEASE_EXTRA_BINS=hello-lambda scripts/release.sh 2>"$out/release.log" | tee "$out/release.txt"
build_s=$((SECONDS - started))
{
  printf 'One `cargo lambda build --release --compiler cargo` of every function and the\n'
  printf 'hello-world baseline: %s s on this machine (incremental when `make release` ran before).\n\n' "$build_s"
  printf '| binary | bootstrap | bootstrap.zip | glibc needed |\n|---|---:|---:|---|\n'
} >>"$report"
mapfile -t bins < <(sed -n 's/^ *Binary: *\([A-Za-z0-9_-]*\) *$/\1/p' template.yaml)
bins+=(hello-lambda)
for b in "${bins[@]}"; do
  f="target/lambda/$b/bootstrap"
  # Zipped as `sam deploy` packages the CodeUri directory (deflate), outside that directory.
  "$root/.venv/bin/python" - "$f" "$out/$b.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_DEFLATED) as z:
    z.write(sys.argv[1], "bootstrap")
PY
  need=$(grep -a -o 'GLIBC_2\.[0-9]*' "$f" | sort -u -t. -k2,2n | tail -1)
  awk -v b="$b" -v s="$(stat -c %s "$f")" -v z="$(stat -c %s "$out/$b.zip")" -v g="$need" \
    'BEGIN { printf "| %s | %.1f MB | %.1f MB | %s |\n", b, s / 1e6, z / 1e6, g }' |
    tee -a "$report"
done

# 2-4 need moto.
record "Bulk upsert: the store against raw BatchWriteItem" \
  scripts/with-moto.sh cargo run "${run_flags[@]}" --example upsert_bench -- 2000
record "GraphQL bookings latency at 1 000 and 100 000 items" \
  scripts/with-moto.sh cargo run "${run_flags[@]}" --example bookings_bench
lambda_args=(hello-lambda=target/lambda/hello-lambda/bootstrap)
for b in webhook sync-worker graphql writer; do
  [ -x "target/lambda/$b/bootstrap" ] && lambda_args+=("$b=target/lambda/$b/bootstrap")
done
record "Function init time and memory (release bootstraps, local Runtime API)" \
  scripts/with-moto.sh cargo run "${run_flags[@]}" --example lambda_bench -- \
  --cold 10 --invocations 200 "${lambda_args[@]}"

# 5. The sync benchmark, once the Makefile has it.
if make -n bench-sync >/dev/null 2>&1; then
  record "Sync: vendor calls and table writes" make --no-print-directory bench-sync
else
  section "Sync: vendor calls and table writes"
  echo "Not measured: this checkout has no \`make bench-sync\` target yet." >>"$report"
fi

notes=$(awk -v m="$marker" '$0 == m { exit } { print }' "$doc" 2>/dev/null || true)
{ printf '%s\n\n%s\n\n' "${notes:-# Benchmarks}" "$marker"; cat "$report"; } >"$doc"
echo "== written to docs/BENCHMARKS.md (commit $commit)" >&2
