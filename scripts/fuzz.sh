#!/usr/bin/env bash
# Runs every cargo-fuzz target of tests/fuzz for a bounded time and prints its exec count.
#   make fuzz                                  # FUZZ_SECONDS=25 per target (CI)
#   FUZZ_SECONDS=600 scripts/fuzz.sh           # the long run (docs/FUZZING.md)
#   scripts/fuzz.sh decode_mews webhook_mews   # some targets only
# Seeds are the committed vendor examples (each vendor crate's testdata/) and partner examples
# (tests/fuzz/seeds); the corpus grows in target/fuzz/corpus/<target> across runs, and a crash
# is written to target/fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${FUZZ_SECONDS:-25}
# No AddressSanitizer by default: the workspace forbids unsafe code, and ASan halves the
# executions a bounded run gets. FUZZ_SANITIZER=address turns it on.
sanitizer=${FUZZ_SANITIZER:-none}
out="$root/target/fuzz"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi
# libFuzzer's instrumentation needs unstable compiler flags. The project's own stable toolchain
# accepts them with RUSTC_BOOTSTRAP=1, so CI and this script use the same compiler everywhere
# (no nightly to install); FUZZ_TOOLCHAIN=nightly uses a nightly toolchain instead.
if [ -n "${FUZZ_TOOLCHAIN:-}" ]; then
  fuzz=(cargo "+$FUZZ_TOOLCHAIN" fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

# Seed directories per target (each file one input).
seeds() {
  case "$1" in
    webhook_mews) echo shared/vendors/mews/testdata/wh-general.json ;;
    webhook_cloudbeds) echo shared/vendors/cloudbeds/testdata/{reservation-created,guest-created,reservation-status-changed}.json ;;
    ingest_partner) echo tests/fuzz/seeds/ingest_partner/*.json ;;
    decode_ohip) echo shared/vendors/opera/testdata/examples/*.json ;;
    decode_mews) echo shared/vendors/mews/testdata/examples/*.json shared/vendors/mews/testdata/wh-general.json ;;
    decode_cloudbeds) echo shared/vendors/cloudbeds/testdata/responses/*.json ;;
    *) echo "fuzz: no seeds for $1" >&2; return 1 ;;
  esac
}

all=(webhook_mews webhook_cloudbeds ingest_partner decode_ohip decode_mews decode_cloudbeds)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

build=(--fuzz-dir tests/fuzz --target-dir "$out/build" --sanitizer "$sanitizer" --release
  --debug-assertions)
# cargo fuzz has no --locked: under CI's --locked, check first that the lock file needs no change.
if [[ "${CARGO_FLAGS:-}" == *--locked* ]]; then
  cargo metadata --locked --format-version 1 --manifest-path tests/fuzz/Cargo.toml >/dev/null
fi
started=$SECONDS
"${fuzz[@]}" build "${build[@]}" >&2
echo "fuzz: built the targets in $((SECONDS - started)) s" >&2

summary=()
for t in "${targets[@]}"; do
  mkdir -p "$out/seeds/$t" "$out/corpus/$t" "$out/artifacts/$t"
  # shellcheck disable=SC2046
  cp $(seeds "$t") "$out/seeds/$t/"
  log="$out/$t.log"
  echo "== fuzz $t for ${seconds}s" >&2
  set +e
  "${fuzz[@]}" run "${build[@]}" "$t" "$out/corpus/$t" "$out/seeds/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/artifacts/$t/" >"$log" 2>&1
  status=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | grep -o 'cov: [0-9]*' || true)
  corpus=$(find "$out/corpus/$t" -type f | wc -l)
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $t FAILED (exit $status); its output:" >&2
    tail -60 "$log" >&2
    echo "fuzz: the input is in $out/artifacts/$t/; rerun it with:" >&2
    echo "  ${fuzz[*]} run ${build[*]} $t <that file>" >&2
    exit 1
  fi
  summary+=("$(printf '%-18s %6ss %12s execs  %s  corpus %s' "$t" "$seconds" "$execs" "${cov:-cov: ?}" "$corpus")")
done
echo "== fuzz: no crash" >&2
printf '%s\n' "${summary[@]}"
