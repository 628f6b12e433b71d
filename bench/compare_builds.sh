#!/usr/bin/env bash
# usage: bench/compare_builds.sh OLD_BUILD NEW_BUILD
# Two builds of wxscened (e.g. the previous main's and this tree's, both
# release builds: make build, or cmake -DCMAKE_BUILD_TYPE=RelWithDebInfo)
# under the same load in the same invocation, for "no performance loss"
# checks: ROUNDS interleaved rounds, each running limit-evhttp (the shared
# harness's physical limit, so a noisy round shows in its reference too),
# then old and new in alternating order (old,new then new,old ...), each
# a fresh process on a fresh database (bench/serve.sh, which samples RSS).
# Prints one line per run and a table of medians with new/old ratios.
# env: ROUNDS=6 THREADS CONNS DURATION WARMUP (the harness's run.sh),
#      SHARED_BENCH=../shared/bench (beside the repo), LOGDIR=bench/out/builds
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
[ $# -eq 2 ] || { sed -n '2p' "$0" >&2; exit 2; }
old=$(cd "$1" && pwd) new=$(cd "$2" && pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
rounds=${ROUNDS:-6}
logbase=${LOGDIR:-$root/bench/out/builds}
for b in "$old" "$new"; do
  [ -x "$b/wxscened" ] || { echo "compare_builds: no $b/wxscened" >&2; exit 1; }
done
[ -f "$shared/run.sh" ] || { echo "compare_builds: no harness at $shared (set SHARED_BENCH)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "compare_builds: wrk not found (sh scripts/deps.sh --bench)" >&2; exit 1; }
make -s -C "$shared/limit" 2>/dev/null || make -s -C "$shared/limit" || exit 1
rm -rf "$logbase"
results="$logbase/results.txt"
mkdir -p "$logbase"
: >"$results"

run() { # run NAME PORT CMD... : one summary line (+ rss) appended to results
  local name=$1 port=$2 line mem
  shift 2
  "$shared/run.sh" "$name" "$port" /wx benchtoken -- "$@" >"$LOGDIR/$name.log" 2>&1 || true
  line=$(grep "^$name req/s=" "$LOGDIR/$name.log") || line="$name req/s=FAILED"
  mem=$(cat "$LOGDIR/wxscened.mem" 2>/dev/null || true)
  [ "$name" = limit-evhttp ] && mem=
  echo "$line $mem round=$round" | tee -a "$results" >&2
  rm -f "$LOGDIR/wxscened.mem"
  sleep 1
}

for round in $(seq "$rounds"); do
  export LOGDIR="$logbase/r$round"
  mkdir -p "$LOGDIR"
  run limit-evhttp 18081 "$shared/limit/limit_evhttp" 18081
  if [ $((round % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
  for which in $order; do
    b=$old
    [ "$which" = new ] && b=$new
    run "$which" 18085 bash "$here/serve.sh" "$b" 18085
  done
done

python3 - "$results" "$old" "$new" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
    rows.setdefault(line.split()[0], []).append(f)

def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v or "")
    return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)] if m else float("nan")

def med(name, key, conv=float):
    vals = [conv(r[key]) for r in rows.get(name, []) if r.get(key) not in (None, "FAILED")]
    return statistics.median(vals) if vals else float("nan")

print(f"\nold = {sys.argv[2]}\nnew = {sys.argv[3]}")
print("| build | runs | median req/s | x limit-evhttp | median p99 ms | median peak RSS MiB | non2xx+badbody |")
print("|---|---|---|---|---|---|---|")
lim = med("limit-evhttp", "req/s")
for name in ("limit-evhttp", "old", "new"):
    rps = med(name, "req/s")
    rss = med(name, "hwm_kb") / 1024 if name != "limit-evhttp" else float("nan")
    bad = sum(int(r.get("non2xx", 0) or 0) + int(r.get("badbody", 0) or 0) for r in rows.get(name, []))
    print(f"| {name} | {len(rows.get(name, []))} | {rps:.0f} | {rps / lim:.3f} | {med(name, 'p99', ms):.2f} | "
          f"{'' if rss != rss else f'{rss:.1f}'} | {bad} |")
# per-round ratio new/old (same round, same noise), then its median
pairs = [(o, n) for o, n in zip(rows.get("old", []), rows.get("new", []))
         if o.get("req/s") not in (None, "FAILED") and n.get("req/s") not in (None, "FAILED")]
ratios = [float(n["req/s"]) / float(o["req/s"]) for o, n in pairs]
if ratios:
    print(f"\nnew/old req/s per round: {' '.join(f'{r:.3f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.3f}")
EOF
