#!/usr/bin/env bash
# usage: bench/pg_profile.sh [BUILD...]
# Where one wxscened on PostgreSQL spends a push, on this machine: runs one
# instance (bench/pg_serve.sh) on a fresh database, loads it with the shared
# harness's wrk + push.lua (same load as make bench), and prints req/s, p99
# and the CPU per acknowledged push of each part (the PostgreSQL server's
# processes, wxscened) with the idle share of the machine, from
# /proc/stat and /proc/PID/stat ticks over the measured run; then the
# group-commit figures from /metrics (batches, average batch, commit time).
# A server that leaves the machine idle is waiting (round trips, hand-offs),
# not computing: docs/benchmarks.md, "Both lanes at work". Several BUILDs
# (an A/B of two builds on a noisy machine) take turns in each round.
# Runs under tests/pg/cluster.sh unless WXS_TEST_PG_URL names a server.
# env: CONNS=64 THREADS=1 DURATION=10s WARMUP=3s, ROUNDS=1,
#      PG_OPTS (extra "-c name=value" for the throwaway cluster:
#      WXS_TEST_PG_OPTS), PGSS=1: pg_stat_statements' top statements
#      (needs PG_OPTS="-c shared_preload_libraries=pg_stat_statements").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -gt 0 ] || set -- "$root/build"
builds=()
for b in "$@"; do builds+=("$(cd "$b" && pwd)"); done
if [ -z "${WXS_TEST_PG_URL:-}" ]; then
  WXS_TEST_PG_OPTS=${PG_OPTS:-} exec "$root/tests/pg/cluster.sh" bash "$0" "${builds[@]}"
fi
out=${BENCH_OUT:-$root/bench/out}
harness="$out/harness"
bash "$root/bench/prepare.sh" "$root/../shared/bench" "$harness" >/dev/null
export LOGDIR="$out/pgprofile" WXS_BENCH_ADMIN=127.0.0.1:18598
mkdir -p "$LOGDIR"
conns=${CONNS:-64} threads=${THREADS:-1} dur=${DURATION:-10s} warm=${WARMUP:-3s}
port=18590
sql() { psql -qAt -v ON_ERROR_STOP=1 "$WXS_TEST_PG_URL" "$@"; }
ticks_of() { # the utime+stime ticks of the processes whose command matches $1
  local t=0 p x
  for p in $(pgrep -f "$1" || true); do
    x=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }')
    t=$((t + ${x:-0}))
  done
  echo "$t"
}
idle_of() { awk '/^cpu / { print $5 + $6; exit }' /proc/stat; }
all_of() { awk '/^cpu / { s = 0; for (i = 2; i <= 9; i++) s += $i; print s; exit }' /proc/stat; }
metric() { curl -sf "http://$WXS_BENCH_ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
hz=$(getconf CLK_TCK)
for round in $(seq "${ROUNDS:-1}"); do
 for build in "${builds[@]}"; do
  db="prof_$round"
  sql -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  [ "${PGSS:-0}" = 1 ] && psql -qAt "$WXS_TEST_PG_URL dbname=$db" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
  setsid bash "$root/bench/pg_serve.sh" "$build" 1 "$port" "$WXS_TEST_PG_URL dbname=$db" \
    >"$LOGDIR/serve.log" 2>&1 &
  spid=$!
  for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  qs=$("$harness/sign.sh" benchtoken)
  url="http://127.0.0.1:$port/wx?$qs"
  wrk -t"$threads" -c"$conns" -d"$warm" -s "$harness/wrk/push.lua" "$url" >/dev/null
  [ "${PGSS:-0}" = 1 ] && psql -qAt "$WXS_TEST_PG_URL dbname=$db" -c "SELECT pg_stat_statements_reset()" >/dev/null
  c0=$(metric wxscene_store_commit_duration_seconds_count) e0=$(metric wxscene_store_committed_events_total)
  s0=$(metric wxscene_store_commit_duration_seconds_sum)
  pg0=$(ticks_of "postgres") wx0=$(ticks_of "$build/wxscened") id0=$(idle_of) al0=$(all_of)
  wrk -t"$threads" -c"$conns" -d"$dur" --latency -s "$harness/wrk/push.lua" "$url" >"$LOGDIR/wrk.log" 2>&1
  pg1=$(ticks_of "postgres") wx1=$(ticks_of "$build/wxscened") id1=$(idle_of) al1=$(all_of)
  c1=$(metric wxscene_store_commit_duration_seconds_count) e1=$(metric wxscene_store_committed_events_total)
  s1=$(metric wxscene_store_commit_duration_seconds_sum)
  rps=$(awk '/Requests\/sec:/ { print $2 }' "$LOGDIR/wrk.log")
  p99=$(awk '$1 == "99%" { print $2 }' "$LOGDIR/wrk.log")
  reqs=$(awk '/requests in/ { print $1 }' "$LOGDIR/wrk.log")
  awk -v r="$round" -v b="$(basename "$build")" -v rps="$rps" -v p99="$p99" -v n="$reqs" -v hz="$hz" \
    -v pg=$((pg1 - pg0)) -v wx=$((wx1 - wx0)) -v id=$((id1 - id0)) -v al=$((al1 - al0)) \
    -v c=$((c1 - c0)) -v e=$((e1 - e0)) -v s="$(awk -v a="$s0" -v b="$s1" 'BEGIN { print b - a }')" \
    'BEGIN { u = 1e6 / hz / n
      printf "round %s %s: %s req/s p99 %s | CPU us/push: postgres %.1f wxscened %.1f | idle %.0f%% | ", r, b, rps, p99, pg * u, wx * u, 100 * id / al
      printf "batches %d (%.0f/s) avg %.1f pushes, commit avg %.0f us\n", c, c * rps / n, c ? e / c : 0, c ? 1e6 * s / c : 0 }'
  if [ "${PGSS:-0}" = 1 ]; then
    psql -qAt -F ' | ' "$WXS_TEST_PG_URL dbname=$db" -c "SELECT calls, round((total_exec_time * 1000 / greatest(calls, 1))::numeric, 0) AS us_per_call, round(total_exec_time::numeric, 0) AS ms, left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 14"
  fi
  if [ "${PG_LOG:-0}" = 1 ]; then # with PG_OPTS="-c log_autovacuum_min_duration=0 -c log_checkpoints=on"
    pglog="$(sed 's/.*host=\([^ ]*\).*/\1/' <<<"$WXS_TEST_PG_URL")/server.log"
    tail -n +"$((${logat:-0} + 1))" "$pglog" | grep -E "automatic|checkpoint (starting|complete)" | cut -c1-200 || true
    logat=$(wc -l <"$pglog")
  fi
  kill -TERM -- "-$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
 done
done
