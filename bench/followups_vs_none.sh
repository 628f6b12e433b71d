#!/usr/bin/env bash
# usage: bench/followups_vs_none.sh [WXSCENED]
#
# The push path's cost of follow-up messages (issue 20): wxscened's plain
# throughput with every channel carrying 3 follow-ups as a ratio of the same
# channels without, measured in the same invocation: ROUNDS interleaved
# rounds (the order alternates: none,followups then followups,none ...),
# each run a fresh wxscened with a fresh SQLite file, channels 1..100 with a
# text reply added by `wxscene channel add` (+ 3 `channel followup add` in
# the followups runs), the shared harness's wrk/push.lua (70 % subscribes
# with a scene: each writes one outbox row in its transaction in the
# followups runs; 30 % SCANs). [followup] worker = false in both, so only
# the push path is measured: the worker is a thread of its own whose cost
# depends on WeChat's answers, not on the callback. wrk -t$THREADS -c$CONNS
# -d$DURATION after a $WARMUP warm-up. Prints one line per run, the medians,
# the ratio and the server's CPU time per request: wrk shares the 2 cores
# with the server and whatever else the machine runs, so req/s swings from
# run to run; CPU per request is the steadier figure.
#
# env: WXSCENED (default build-release/wxscened), WXSCENE (beside it),
#      CAMPAIGNS=4 (channels spread over that many campaigns, both modes)
#      ROUNDS=3 THREADS=1 CONNS=64 DURATION=10s WARMUP=2s
#      SHARED_BENCH=../shared/bench LOGDIR=/tmp/bench-followups
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
wxscened=${1:-${WXSCENED:-$root/build-release/wxscened}}
wxscene=${WXSCENE:-$(dirname "$wxscened")/wxscene}
CAMPAIGNS=${CAMPAIGNS:-4}
token=benchtoken

[ -x "$wxscened" ] && [ -x "$wxscene" ] || { echo "no wxscened/wxscene at $wxscened" >&2; exit 1; }
ab_init followups

write_config() {  # write_config DIR PORT
  cat >"$1/wxscene.ini" <<EOC
[server]
listen = 127.0.0.1:$2
callback_path = /wx
timestamp_window = 300
log_level = info
[wechat]
appid = wx0123456789abcdef
appsecret = 0123456789abcdef0123456789abcdef
token = $token
mode = plain
api_base = http://127.0.0.1:9
[store]
path = $1/wxscene.db
synchronous = normal
[reply]
subscribe = Welcome!
unknown_scene = Welcome from channel {scene}
[admin]
listen =
token =
[tag]
worker = false
[followup]
worker = false
EOC
  chmod 0640 "$1/wxscene.ini"  # it holds a secret: no warning per CLI call
}

channels() {  # channels DIR MODE: scenes 1..100 in $CAMPAIGNS campaigns, with 3 follow-ups each in MODE followups
  local n c camp=()
  for c in $(seq "$CAMPAIGNS"); do
    "$wxscene" --config "$1/wxscene.ini" campaign add "地铁-$c" >/dev/null
  done
  for n in $(seq 100); do
    [ "$CAMPAIGNS" -gt 0 ] && camp=(--campaign "地铁-$(( (n - 1) % CAMPAIGNS + 1 ))")
    "$wxscene" --config "$1/wxscene.ini" channel add "$n" --name "站点 $n" \
      --reply "Welcome to {channel}" "${camp[@]}" >/dev/null
    if [ "$2" = followups ]; then
      "$wxscene" --config "$1/wxscene.ini" channel followup add "$n" --text "领券: 回复 1" >/dev/null
      "$wxscene" --config "$1/wxscene.ini" channel followup add "$n" --news "本周特惠" \
        --news-url "https://shop.example.com/p?id=$n" --news-description "满100减20" >/dev/null
      "$wxscene" --config "$1/wxscene.ini" channel followup add "$n" --text "第三条" >/dev/null
    fi
  done
}

run() {  # run MODE ROUND
  local mode=$1 round=$2 dir port url log qs t0 t1 start_s end_s rows outbox_rows events
  dir=$work/$mode.$round; mkdir -p "$dir"
  port=$(free_port)
  write_config "$dir" "$port"
  "$wxscene" --config "$dir/wxscene.ini" store migrate >/dev/null
  channels "$dir" "$mode"
  start "$dir" "$port"
  url="http://127.0.0.1:$port/wx"
  log=$LOGDIR/$mode.$round.wrk.log
  qs=$("$shared/sign.sh" "$token")
  wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" -s "$shared/wrk/push.lua" "$url?$qs" >/dev/null
  t0=$(cputicks); start_s=$(date +%s.%N)
  EXPECT=Welcome wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$shared/wrk/push.lua" \
    "$url?$qs" >"$log"
  t1=$(cputicks); end_s=$(date +%s.%N)
  stop
  rows=$(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("SELECT count(*) FROM followup_outbox").fetchone()[0], c.execute("SELECT count(*) FROM events").fetchone()[0])' "$dir/wxscene.db")
  cp "$dir/server.log" "$LOGDIR/$mode.$round.server.log"
  read -r outbox_rows events <<<"$rows"
  wrk_line "$mode" "$round" "$log" $((t1 - t0)) "$start_s" "$end_s" \
    "outbox_rows=$outbox_rows" "events=$events"
  rm -rf "$dir"
  sleep 1
}

ab_rounds none followups run
ab_report none followups followups/none "errors or wrong bodies"
