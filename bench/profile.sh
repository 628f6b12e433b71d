#!/usr/bin/env bash
# usage: bench/profile.sh [BUILD] [REQUESTS] [CONNS]
# Instruction counts of wxscened's hot path, repeatable on a noisy machine:
# runs BUILD/wxscened (default build/) under valgrind --tool=callgrind with a
# fresh database (the bench/serve.sh config), warms it up with 500 requests,
# then collects exactly REQUESTS (default 5000) distinct pushes sent over
# CONNS (default 16) keep-alive connections by bench/drive.py, and prints
# instructions per request, the group-commit batch size reached and the
# functions that cost most (inclusive), per request.
# Output: bench/out/profile/callgrind.out (open with callgrind_annotate or
# kcachegrind) and summary.txt.
# env: PROFILE_SETUP='command' runs (bash -c, with the config file as $1)
#      before the server starts, e.g. to add channels and follow-ups
#      (bench/followups_vs_none.sh's comparison: docs/benchmarks.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
n=${2:-5000} conns=${3:-16} port=18096 admin=18097
out="$root/bench/out/profile"
command -v valgrind >/dev/null || { echo "profile: valgrind not found (sh scripts/deps.sh --bench)" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
export LOGDIR="$out" WXS_BENCH_LOG_LEVEL=${WXS_BENCH_LOG_LEVEL:-info} WXS_BENCH_ADMIN=127.0.0.1:$admin
bash "$root/bench/serve.sh" --config-only "$port"
if [ -n "${PROFILE_SETUP:-}" ]; then
  bash -c "$PROFILE_SETUP" profile-setup "$out/wxscene.ini"
fi
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.out" \
  "$build/wxscened" --config "$out/wxscene.ini" 2>"$out/server.log" &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
python3 "$root/bench/drive.py" "$port" 500 "$conns" oWarm_ >/dev/null
metric() { curl -sf "http://127.0.0.1:$admin/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
c0=$(metric wxscene_store_commit_duration_seconds_count) e0=$(metric wxscene_store_committed_events_total)
callgrind_control -i on "$pid" >/dev/null
python3 "$root/bench/drive.py" "$port" "$n" "$conns" oProf_
callgrind_control -i off "$pid" >/dev/null
c1=$(metric wxscene_store_commit_duration_seconds_count) e1=$(metric wxscene_store_committed_events_total)
kill -TERM "$pid"
wait "$pid" || true
trap - EXIT

total=$(callgrind_annotate "$out/callgrind.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(/,/, "", $1); print $1 }')
{
  echo "requests=$n conns=$conns instructions=$total per_request=$((total / n))" \
    "commits=$((${c1:-0} - ${c0:-0})) events_per_commit=$(awk -v e=$((${e1:-0} - ${e0:-0})) -v c=$((${c1:-0} - ${c0:-0})) 'BEGIN { printf "%.1f", c ? e / c : 0 }')"
  echo "inclusive instructions per request (top functions):"
  callgrind_annotate --inclusive=yes --threshold=99 "$out/callgrind.out" 2>/dev/null |
    awk -v n="$n" '/^ *[0-9,]+ .*[a-zA-Z_]/ { v = $1; gsub(/,/, "", v); $1 = ""; printf "%9.0f %s\n", v / n, $0 }' |
    head -n "${PROFILE_TOP:-45}"
} | tee "$out/summary.txt"
