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
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
wxscened=${1:-${WXSCENED:-$root/build-release/wxscened}}
BODIES=${BODIES:-400000}
token=benchtoken appid=wx0123456789abcdef key=kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR

[ -x "$wxscened" ] || { echo "no wxscened at $wxscened" >&2; exit 1; }
python3 -c 'import cryptography' 2>/dev/null || { echo "python3-cryptography missing" >&2; exit 1; }
ab_init safe
# the key comes from the config alone, never from the environment
server_env=(env -u WXSCENE_TOKEN -u WXSCENE_ENCODING_AES_KEY -u WXSCENE_ENCODING_AES_KEY_PREV)

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
run() {
  local mode=$1 round=$2 dir port url log t0 t1 start_s end_s
  if [ $(( $(date +%s) - gen_at )) -gt 240 ]; then
    echo "the encrypted pushes are older than 240 s (timestamp_window 300): regenerating" >&2
    python3 "$here/gen_safe_bodies.py" --token "$token" --key "$key" --appid "$appid" \
      --count "$BODIES" --out "$bodies"
    gen_at=$(date +%s)
  fi
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
  wrk_line "$mode" "$round" "$log" $((t1 - t0)) "$start_s" "$end_s" wrapped sockerr
  sleep 1
}

ab_rounds plain safe run

# Medians, per-round ratios and the spread.
ab_report plain safe plain/safe "errors, wrong bodies or wrapped pushes"
