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
wxscened=${1:-${WXSCENED:-$root/build-release/wxscened}}
wxscene=${WXSCENE:-$(dirname "$wxscened")/wxscene}
CAMPAIGNS=${CAMPAIGNS:-4} ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-1} CONNS=${CONNS:-64} DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
shared=${SHARED_BENCH:-$root/../shared/bench}
LOGDIR=${LOGDIR:-/tmp/bench-followups}
token=benchtoken

command -v wrk >/dev/null || { echo "wrk not found (scripts/deps.sh --bench)" >&2; exit 1; }
[ -x "$wxscened" ] && [ -x "$wxscene" ] || { echo "no wxscened/wxscene at $wxscened" >&2; exit 1; }
[ -f "$shared/wrk/push.lua" ] || { echo "no $shared/wrk/push.lua (set SHARED_BENCH)" >&2; exit 1; }
mkdir -p "$LOGDIR"
work=$(mktemp -d /tmp/bench-followups.XXXXXX)
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

start() {  # start DIR PORT: wxscened in its own process group, wait for /healthz
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

results=$work/results.txt
run() {  # run MODE ROUND
  local mode=$1 round=$2 dir port url log qs t0 t1 start_s end_s rows
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
  awk -v mode="$mode" -v round="$round" -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" \
      -v t_start="$start_s" -v t_end="$end_s" -v rows="$rows" '
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /^push\.lua:/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); c[kv[1]] = kv[2] } }
    END { cpu = ticks / hz / (t_end - t_start); split(rows, r, " ")
          printf "round=%s mode=%s req/s=%s p50=%s p99=%s non200=%s badbody=%s outbox_rows=%s events=%s srvcpu=%d%% cpu_us/req=%.1f\n",
                 round, mode, rps, p50, p99, c["non200"], c["badbody"], r[1], r[2],
                 100 * cpu, (rps > 0 ? 1e6 * cpu / rps : 0) }' "$log" | tee -a "$results"
  rm -rf "$dir"
  sleep 1
}

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="none followups"; else order="followups none"; fi
  for mode in $order; do run "$mode" "$round"; done
done

awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    m = f["mode"]; r = f["req/s"] + 0; v[m, ++n[m]] = r; by[m, f["round"]] = r
    cpu[m] += f["cpu_us/req"]
    if (f["non200"] != "0" || f["badbody"] != "0") bad = bad " " m "/round" f["round"] }
  function median(m,   k, a, i, j, t) {
    k = n[m]; for (i = 1; i <= k; i++) a[i] = v[m, i]
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    lo[m] = a[1]; hi[m] = a[k]
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  END {
    a = median("none"); b = median("followups")
    printf "none:      median %.0f req/s (min %.0f, max %.0f, %d runs)\n", a, lo["none"], hi["none"], n["none"]
    printf "followups: median %.0f req/s (min %.0f, max %.0f, %d runs)\n", b, lo["followups"], hi["followups"], n["followups"]
    printf "ratio followups/none of the medians: %.1f%%\n", 100 * b / a
    printf "per-round ratios:"
    for (i = 1; i <= n["none"]; i++) if (by["none", i] > 0) printf " %.1f%%", 100 * by["followups", i] / by["none", i]
    printf "\n"
    printf "server CPU per request: none %.1f us, followups %.1f us (mean of the runs); followups/none = %.1f%%\n",
           cpu["none"] / n["none"], cpu["followups"] / n["followups"], 100 * (cpu["followups"] / n["followups"]) / (cpu["none"] / n["none"])
    if (bad != "") printf "WARNING: errors or wrong bodies in:%s (see the wrk logs)\n", bad
  }' "$results"
echo "logs: $LOGDIR" >&2
