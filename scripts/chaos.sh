#!/usr/bin/env bash
# `make chaos`: CHAOS_ROUNDS (1000) seeded rounds of the chaos suite, run as shards of
# CHAOS_SHARD (100) rounds, each against its own fresh moto, CHAOS_JOBS (2) at a time.
# One moto for 1 000 rounds slows down as its tables grow (GSI queries scan every item): the
# rounds 200-300 took 40 % longer than the first hundred, and it keeps growing. Rounds are independent
# given the seed and their index, so shards run exactly the rounds one process would.
# Prints each shard's summary and the failures, and exits 1 when any invariant is broken in any
# shard (2 when a shard could not run). Other CHAOS_* variables pass through to every shard.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=${CHAOS_BIN:-target/debug/chaos}
rounds=${CHAOS_ROUNDS:-1000}
shard=${CHAOS_SHARD:-100}
jobs=${CHAOS_JOBS:-2}
first=${CHAOS_FROM_ROUND:-0}
if [ -z "${CHAOS_SEED:-}" ]; then
  CHAOS_SEED=$(printf '0x%016x' "$(( (RANDOM << 48) ^ (RANDOM << 32) ^ (RANDOM << 16) ^ RANDOM ))")
fi
export CHAOS_SEED
# DynamoDB applies each conditional write atomically; threaded moto does not (scripts/moto-serial.py).
export MOTO_SERIAL=${MOTO_SERIAL:-1}
logs=$(mktemp -d -t chaos.XXXXXX)
echo "chaos: CHAOS_SEED=$CHAOS_SEED rounds $first..$rounds in shards of $shard, $jobs at a time (logs: $logs)"

starts=()
for ((s = first; s < rounds; s += shard)); do starts+=("$s"); done

run_shard() {
  local s=$1 e=$(( $1 + shard ))
  [ "$e" -gt "$rounds" ] && e=$rounds
  CHAOS_FROM_ROUND=$s CHAOS_ROUNDS=$e CHAOS_FAILURES=all \
    scripts/with-moto.sh "$bin" >"$logs/shard-$s.log" 2>&1
  echo $? >"$logs/shard-$s.rc"
  echo "chaos: rounds $s..$e exit $(cat "$logs/shard-$s.rc") ($(grep -m1 'wall time' "$logs/shard-$s.log" || echo 'no summary'))"
}

started=$(date +%s)
running=0
for s in "${starts[@]}"; do
  run_shard "$s" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

worst=0
broken=()
for s in "${starts[@]}"; do
  rc=$(cat "$logs/shard-$s.rc" 2>/dev/null || echo 2)
  if [ "$rc" -ne 0 ]; then
    broken+=("$s")
    [ "$rc" -gt "$worst" ] && worst=$rc
  fi
done
# The invariants, summed over the shards.
echo "INVARIANTS over all shards (each must be 0):"
cat "$logs"/shard-*.log | awk '
  /^INVARIANTS/ { on = 1; next }
  /^wall time/ { on = 0 }
  on {
    line = $0; sub(/[ ]*<--.*$/, "", line)
    if (!match(line, /[0-9]+$/)) next
    n = substr(line, RSTART) + 0
    name = substr(line, 1, RSTART - 1); sub(/[ ]+$/, "", name); sub(/^[ ]+/, "", name)
    if (!(name in sum)) order[++k] = name
    sum[name] += n
  }
  END { for (i = 1; i <= k; i++) printf "  %-40s %d\n", order[i], sum[order[i]] }'
echo "wall time: $(( $(date +%s) - started )) s"
for s in "${broken[@]}"; do
  echo "--- shard from round $s:"
  sed -n '/^chaos: FAILED/,$p' "$logs/shard-$s.log"
  grep -m1 'could not run' "$logs/shard-$s.log" || true
done
if [ "$worst" -eq 0 ]; then
  echo "chaos: OK (CHAOS_SEED=$CHAOS_SEED, $(( rounds - first )) rounds)"
else
  echo "chaos: FAILED (CHAOS_SEED=$CHAOS_SEED); rerun a shard with CHAOS_SEED=$CHAOS_SEED CHAOS_FROM_ROUND=<from> CHAOS_ROUNDS=<to> scripts/with-moto.sh $bin"
fi
exit "$worst"
