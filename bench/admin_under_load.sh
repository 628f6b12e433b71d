#!/usr/bin/env bash
# Push latency while the admin API reads statistics (issue 15: "the event
# loop does no database work"). A database with EVENTS events over DAYS
# days is generated once (bench/stats_gen, the store's real commit path);
# then, ROUNDS times, alternating, the shared harness's run.sh loads a
# fresh copy of it with wrk (distinct signed pushes) twice:
#   quiet   nothing else runs;
#   admin   a client asks GET /api/stats for the whole year, by channel,
#           again and again on the admin listener for the whole run.
# The push p99 of the "admin" runs should stay within 10 % of "quiet".
# Prints a markdown table (and appends nothing: paste it into
# docs/benchmarks.md).
#
#   bench/admin_under_load.sh [BUILD]     # BUILD = a release build (default build/)
#   EVENTS=300000 CHANNELS=500 DAYS=365 ROUNDS=3 bench/admin_under_load.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
shared="$root/../shared/bench"
EVENTS=${EVENTS:-300000} CHANNELS=${CHANNELS:-500} DAYS=${DAYS:-365} ROUNDS=${ROUNDS:-3}
export DURATION=${DURATION:-10s} WARMUP=${WARMUP:-2s}
work=${WORK:-$(mktemp -d /var/tmp/wxs-admin-bench.XXXXXX)}
mkdir -p "$work"
port=18095 admin=18096
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
[ -x "$build/wxscened" ] || { echo "build $build first (make build)" >&2; exit 1; }
[ -f "$shared/run.sh" ] || { echo "the shared harness is missing: $shared" >&2; exit 1; }

PKGS="libevent libevent_pthreads libxml-2.0 libcurl sqlite3 libpq libcrypto inih jansson libqrencode libpng"
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root/src" $(pkg-config --cflags $PKGS) \
  "$root/bench/stats_gen.c" "$build/libwxs.a" $(pkg-config --libs $PKGS) -lpthread -lm \
  -o "$work/stats_gen"
echo "admin_under_load: generating $EVENTS events, $CHANNELS channels, $DAYS days" >&2
"$work/stats_gen" "$work/big.db" "$EVENTS" "$CHANNELS" "$DAYS" 100 >"$work/gen.txt"
since=$(date -u -d "-$DAYS days" +%F) until=$(date -u +%F)

cat >"$work/wxscene.ini" <<EOF
[server]
listen = 127.0.0.1:$port
callback_path = /wx
[wechat]
token = benchtoken
mode = plain
[store]
path = $work/run.db
[reply]
unknown_scene = Welcome from channel {scene}
[admin]
listen = 127.0.0.1:$admin
token = benchadmintoken
[tag]
worker = false
EOF

# The admin client: /api/stats in a loop until killed; counts its answers.
admin_loop() {
  local n=0 bad=0 code
  until curl -sf -o /dev/null "http://127.0.0.1:$admin/healthz"; do sleep 0.1; done
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer benchadmintoken' \
      "http://127.0.0.1:$admin/api/stats?since=$since&until=$until&by=channel") || code=000
    # 000: no connection (before the server listens, after it stops): not an answer
    [ "$code" = 000 ] && continue
    n=$((n + 1))
    [ "$code" = 200 ] || { bad=$((bad + 1)); echo "$code" >>"$work/admin.bad"; }
    echo "$n $bad" >"$work/admin.count"
  done
}

one() { # one run: $1 = quiet|admin
  rm -f "$work"/run.db*
  cp "$work/big.db" "$work/run.db"
  local pid=""
  if [ "$1" = admin ]; then
    admin_loop &
    pid=$!
  fi
  LOGDIR="$work/logs-$1" bash "$shared/run.sh" "wxscened-$1" "$port" /wx benchtoken -- \
    "$build/wxscened" --config "$work/wxscene.ini" | tail -1
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    echo "admin-queries $(cat "$work/admin.count" 2>/dev/null)"
  fi
}

for r in $(seq "$ROUNDS"); do
  for mode in quiet admin; do
    echo "round $r $mode" >&2
    one "$mode" | tee -a "$work/results.txt"
  done
done

python3 - "$work/results.txt" "$work/gen.txt" "$EVENTS" "$CHANNELS" "$DAYS" <<'PY'
import re, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
runs, queries = {"quiet": [], "admin": []}, []
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
for ln in lines:
    m = re.match(r"wxscened-(\w+) req/s=([\d.]+) p50=(\S+) p99=(\S+) non2xx=(\S*)", ln)
    if m:
        runs[m.group(1)].append((float(m.group(2)), ms(m.group(3)), ms(m.group(4)), m.group(5)))
    m = re.match(r"admin-queries (\d+) (\d+)", ln)
    if m:
        queries.append((int(m.group(1)), int(m.group(2))))
print(f"Database: {sys.argv[3]} events, {sys.argv[4]} channels, {sys.argv[5]} days; "
      "`GET /api/stats?by=channel` over the whole year in a loop during the admin runs.\n")
print("| round | quiet req/s | quiet p99 | admin req/s | admin p99 | p99 admin/quiet | stats answers (non-200) |")
print("|---|---|---|---|---|---|---|")
for i, (q, a) in enumerate(zip(runs["quiet"], runs["admin"])):
    n, bad = queries[i] if i < len(queries) else (0, 0)
    print(f"| {i+1} | {q[0]:.0f} | {q[2]:.2f} ms | {a[0]:.0f} | {a[2]:.2f} ms | {a[2]/q[2]:.2f} | {n} ({bad}) |")
qp = statistics.median(r[2] for r in runs["quiet"]); ap = statistics.median(r[2] for r in runs["admin"])
qr = statistics.median(r[0] for r in runs["quiet"]); ar = statistics.median(r[0] for r in runs["admin"])
print(f"| median | {qr:.0f} | {qp:.2f} ms | {ar:.0f} | {ap:.2f} ms | **{ap/qp:.2f}** | |")
PY
