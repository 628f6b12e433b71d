#!/usr/bin/env bash
# usage: bench/safe_vs_plain.sh [WXSCENED]
#
# Safe-mode (AES) throughput of wxscened as a ratio of plain mode, measured
# in the same invocation: ROUNDS interleaved rounds (the order inside a
# round alternates: plain,safe then safe,plain ...), each run a fresh
# wxscened with a fresh SQLite file, the same config except [wechat] mode
# and the key (synchronous = normal, log_level = info in both: the safe run
# logs the same one line per request as the plain run), wrk -t$THREADS
# -c$CONNS -d$DURATION after a $WARMUP unmeasured warm-up. Plain runs use
# the shared harness's wrk/push.lua; safe runs bench/safe_push.lua with
# pushes pre-encrypted by bench/gen_safe_bodies.py (the same event mix, every
# event distinct). Prints one line per run, then the medians and the ratio,
# and the server's CPU time per request in both modes: wrk shares the 2 cores
# with the server (and other users of the machine), so req/s swings from run
# to run, while CPU per request is the steadier measure of the extra work.
#
# env: WXSCENED (default build-release/wxscened; build it with
#      cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release), ROUNDS=3
#      THREADS=1 CONNS=64 DURATION=10s WARMUP=2s BODIES=400000 (lines of
#      pre-encrypted pushes; must exceed the requests of one run)
#      SHARED_BENCH=../shared/bench (beside the repo) LOGDIR=/tmp/bench-safe
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
wxscened=${1:-${WXSCENED:-$root/build-release/wxscened}}
ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-1} CONNS=${CONNS:-64} DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s} BODIES=${BODIES:-400000}
shared=${SHARED_BENCH:-$root/../shared/bench}
LOGDIR=${LOGDIR:-/tmp/bench-safe}
token=benchtoken appid=wx0123456789abcdef key=kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR

command -v wrk >/dev/null || { echo "wrk not found (scripts/deps.sh --bench)" >&2; exit 1; }
[ -x "$wxscened" ] || { echo "no wxscened at $wxscened" >&2; exit 1; }
[ -f "$shared/wrk/push.lua" ] || { echo "no $shared/wrk/push.lua (set SHARED_BENCH)" >&2; exit 1; }
python3 -c 'import cryptography' 2>/dev/null || { echo "python3-cryptography missing" >&2; exit 1; }
mkdir -p "$LOGDIR"
work=$(mktemp -d /tmp/bench-safe.XXXXXX)
pid=
stop() {  # stop the server we started (its own process group), by pid
  if [ -n "$pid" ]; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}
trap 'stop; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Encrypted pushes: the measured run uses lines 1..N-W, the warm-up the last W.
bodies=$work/bodies.txt
echo "generating $BODIES encrypted pushes ..." >&2
python3 "$here/gen_safe_bodies.py" --token "$token" --key "$key" --appid "$appid" \
  --count "$BODIES" --out "$bodies"
gen_at=$(date +%s)
warm_lines=$((BODIES / 5))
meas_last=$((BODIES - warm_lines))

write_config() {  # write_config DIR MODE PORT
  cat >"$1/wxscene.ini" <<EOF
[server]
listen = 127.0.0.1:$3
callback_path = /wx
timestamp_window = 300
log_level = info
[wechat]
appid = $appid
token = $token
encoding_aes_key = $key
mode = $2
[store]
path = $1/wxscene.db
synchronous = normal
[reply]
subscribe = Welcome!
unknown_scene = Welcome from channel {scene}
[admin]
listen = 127.0.0.1:$(free_port)
token =
EOF
}

start() {  # start DIR PORT: wxscened in its own process group, wait for /healthz
  env -u WXSCENE_TOKEN -u WXSCENE_ENCODING_AES_KEY -u WXSCENE_ENCODING_AES_KEY_PREV \
    setsid "$wxscened" --config "$1/wxscene.ini" >"$1/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$2/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "wxscened did not start; see $1/server.log" >&2
  cat "$1/server.log" >&2
  exit 1
}

cputicks() { sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }'; }
# Wait for the load to reach the server (wrk runs its Lua init first: in
# safe mode it builds ~600,000 requests, seconds during which the server is
# idle), then note the CPU ticks and the time the measurement starts from.
mark_start() {
  local a b
  a=$(cputicks)
  for _ in $(seq 600); do
    sleep 0.05
    b=$(cputicks)
    [ $((b - a)) -ge 2 ] && break
    a=$b
  done
  t0=$(cputicks); start_s=$(date +%s.%N)
}

# run MODE ROUND: one server, check, warm-up, measured run; appends to $results
results=$work/results.txt
run() {
  local mode=$1 round=$2 dir port url log t0 t1 start_s end_s
  dir=$work/$mode.$round; mkdir -p "$dir"
  port=$(free_port)
  write_config "$dir" "$mode" "$port"
  start "$dir" "$port"
  url="http://127.0.0.1:$port/wx"
  log=$LOGDIR/$mode.$round.wrk.log
  if [ "$mode" = plain ]; then
    local qs; qs=$("$shared/sign.sh" "$token")
    curl -s -H 'Content-Type: text/xml' --data-binary \
      '<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[oCHECK]]></FromUserName><CreateTime>1600000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_42]]></EventKey></xml>' \
      "$url?$qs" | grep -q Welcome || { echo "plain check failed" >&2; exit 1; }
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$shared/wrk/push.lua" "$url?$qs" >/dev/null
    EXPECT=Welcome wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$shared/wrk/push.lua" \
      "$url?$qs" >"$log" &
    mark_start
    wait $!
  else
    python3 "$here/gen_safe_bodies.py" --token "$token" --key "$key" --appid "$appid" \
      --check "$url" >/dev/null || { echo "safe check failed" >&2; exit 1; }
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$here/safe_push.lua" "$url" -- \
      "$bodies" $((meas_last + 1)) "$BODIES" "$THREADS" >/dev/null
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$here/safe_push.lua" "$url" -- \
      "$bodies" 1 "$meas_last" "$THREADS" >"$log" &
    mark_start
    wait $!
  fi
  t1=$(cputicks); end_s=$(date +%s.%N)
  cp "$dir/server.log" "$LOGDIR/$mode.$round.server.log"
  stop
  awk -v mode="$mode" -v round="$round" -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
      -v t_start="$start_s" -v t_end="$end_s" '
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
    /^(push|safe_push)\.lua:/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); c[kv[1]] = kv[2] } }
    END { cpu = ticks / hz / (t_end - t_start)
          printf "round=%s mode=%s req/s=%s p50=%s p99=%s non200=%s badbody=%s wrapped=%s sockerr=%d srvcpu=%d%% cpu_us/req=%.1f\n",
                 round, mode, rps, p50, p99, c["non200"], c["badbody"], (c["wrapped"] == "" ? "-" : c["wrapped"]),
                 err, 100 * cpu, (rps > 0 ? 1e6 * cpu / rps : 0) }' "$log" | tee -a "$results"
  sleep 1
}

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="plain safe"; else order="safe plain"; fi
  for mode in $order; do
    if [ $(( $(date +%s) - gen_at )) -gt 240 ]; then
      echo "the encrypted pushes are older than 240 s (timestamp_window 300): regenerating" >&2
      python3 "$here/gen_safe_bodies.py" --token "$token" --key "$key" --appid "$appid" \
        --count "$BODIES" --out "$bodies"
      gen_at=$(date +%s)
    fi
    run "$mode" "$round"
  done
done

# Medians, per-round ratios and the spread.
awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    r = f["req/s"] + 0; v[f["mode"], ++n[f["mode"]]] = r; by[f["mode"], f["round"]] = r
    cpu[f["mode"]] += f["cpu_us/req"]
    if (f["non200"] != "0" || f["badbody"] != "0" || (f["wrapped"] != "-" && f["wrapped"] != "0"))
      bad = bad " " f["mode"] "/round" f["round"] }
  function median(m,   k, a, i, j, t) {
    k = n[m]; for (i = 1; i <= k; i++) a[i] = v[m, i]
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    lo[m] = a[1]; hi[m] = a[k]
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  END {
    p = median("plain"); s = median("safe")
    printf "plain: median %.0f req/s (min %.0f, max %.0f, %d runs)\n", p, lo["plain"], hi["plain"], n["plain"]
    printf "safe:  median %.0f req/s (min %.0f, max %.0f, %d runs)\n", s, lo["safe"], hi["safe"], n["safe"]
    printf "ratio safe/plain of the medians: %.1f%%\n", 100 * s / p
    printf "per-round ratios:"
    for (i = 1; i <= n["plain"]; i++) if (by["plain", i] > 0) printf " %.1f%%", 100 * by["safe", i] / by["plain", i]
    printf "\n"
    printf "server CPU per request: plain %.1f us, safe %.1f us (mean of the runs); plain/safe = %.1f%%\n",
           cpu["plain"] / n["plain"], cpu["safe"] / n["safe"], 100 * (cpu["plain"] / n["plain"]) / (cpu["safe"] / n["safe"])
    if (bad != "") printf "WARNING: errors, wrong bodies or wrapped pushes in:%s (see the wrk logs)\n", bad
  }' "$results"
echo "logs: $LOGDIR" >&2
