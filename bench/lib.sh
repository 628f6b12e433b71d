# bench/lib.sh: what the A/B benchmarks share, sourced (never run) by
#  - the wrk A/B pairs (bench/safe_vs_plain.sh, bench/followups_vs_none.sh):
#    a fresh wxscened per run, ROUNDS interleaved rounds whose order
#    alternates (A,B then B,A ...), one summary line per run, then the
#    medians, the per-round ratios and the server's CPU per request;
#  - the stats_gen ingest benchmarks (bench/stats_bench.sh,
#    bench/campaign_bench.sh): a Release library, bench/stats_gen linked
#    against it, a scratch WORK directory, whole `wxscene stats` processes
#    timed as a user runs them.
# Each script keeps its own configs, runs and Markdown; names here are the
# ones the scripts used before (stop, start, free_port, cputicks, field).
# shellcheck shell=bash

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# ---- wrk A/B pairs -----------------------------------------------------

# ab_init NAME: the load's env defaults, the harness check, LOGDIR
# (default /tmp/bench-NAME), a scratch $work removed on exit (stopping the
# server first) and the $results file the run lines go to.
ab_init() {
  ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-1} CONNS=${CONNS:-64} DURATION=${DURATION:-10s}
  WARMUP=${WARMUP:-2s}
  shared=${SHARED_BENCH:-$bench_root/../shared/bench}
  LOGDIR=${LOGDIR:-/tmp/bench-$1}
  command -v wrk >/dev/null || { echo "wrk not found (scripts/deps.sh --bench)" >&2; exit 1; }
  [ -f "$shared/wrk/push.lua" ] || { echo "no $shared/wrk/push.lua (set SHARED_BENCH)" >&2; exit 1; }
  mkdir -p "$LOGDIR"
  work=$(mktemp -d "/tmp/bench-$1.XXXXXX")
  results=$work/results.txt
  pid=
  server_env=()
  trap 'stop; rm -rf "$work"' EXIT
}

stop() {  # stop the server we started (its own process group), by pid
  if [ -n "$pid" ]; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start DIR PORT: $wxscened on DIR/wxscene.ini in its own process group
# (behind the command words in the server_env array, empty from ab_init),
# then wait for /healthz.
start() {
  # shellcheck disable=SC2154 # wxscened is the sourcing script's
  "${server_env[@]}" setsid "$wxscened" --config "$1/wxscene.ini" >"$1/server.log" 2>&1 &
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

# wrk_line MODE ROUND WRKLOG TICKS T_START T_END [EXTRA...]: a run's line,
# appended to $results and printed. EXTRA words go between badbody= and
# srvcpu=: KEY=VALUE as given, sockerr (wrk's socket errors) or a bare KEY
# (the *.lua script's counter of that name, - when it printed none).
wrk_line() {
  local mode=$1 round=$2 log=$3 ticks=$4 t_start=$5 t_end=$6
  shift 6
  awk -v mode="$mode" -v round="$round" -v ticks="$ticks" -v hz="$(getconf CLK_TCK)" \
      -v t_start="$t_start" -v t_end="$t_end" -v extra="$*" '
    /Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = $2 }
    $1 == "99%" { p99 = $2 }
    /Socket errors:/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
    /^[a-z_]+\.lua:/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); c[kv[1]] = kv[2] } }
    END { cpu = ticks / hz / (t_end - t_start)
          printf "round=%s mode=%s req/s=%s p50=%s p99=%s non200=%s badbody=%s",
                 round, mode, rps, p50, p99, c["non200"], c["badbody"]
          n = split(extra, x, " ")
          for (i = 1; i <= n; i++)
            if (index(x[i], "=")) printf " %s", x[i]
            else if (x[i] == "sockerr") printf " sockerr=%d", err
            else printf " %s=%s", x[i], (c[x[i]] == "" ? "-" : c[x[i]])
          printf " srvcpu=%d%% cpu_us/req=%.1f\n", 100 * cpu, (rps > 0 ? 1e6 * cpu / rps : 0) }' \
    "$log" | tee -a "$results"
}

# ab_rounds A B RUN: ROUNDS rounds of "RUN MODE ROUND", A first in odd
# rounds and B first in even ones, so a machine getting busier or quieter
# favours neither.
ab_rounds() {
  local round mode order
  for round in $(seq "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="$1 $2"; else order="$2 $1"; fi
    for mode in $order; do "$3" "$mode" "$round"; done
  done
}

# ab_report A B CPU_RATIO WHAT: medians (min, max) of A (the baseline) and
# B, B/A of the medians and per round, the mean CPU per request with
# CPU_RATIO ("A/B" or "B/A"), and a warning naming the runs with non-200s,
# wrong bodies or wrapped pushes (WHAT says which in the warning).
ab_report() {
  awk -v A="$1" -v B="$2" -v cpu_ratio="$3" -v what="$4" '
    { delete f
      for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      m = f["mode"]; r = f["req/s"] + 0; v[m, ++n[m]] = r; by[m, f["round"]] = r
      cpu[m] += f["cpu_us/req"]
      if (f["non200"] != "0" || f["badbody"] != "0" ||
          (("wrapped" in f) && f["wrapped"] != "-" && f["wrapped"] != "0"))
        bad = bad " " m "/round" f["round"] }
    function median(m,   k, a, i, j, t) {
      k = n[m]; for (i = 1; i <= k; i++) a[i] = v[m, i]
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      lo[m] = a[1]; hi[m] = a[k]
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    END {
      a = median(A); b = median(B)
      w = (length(A) > length(B) ? length(A) : length(B)) + 1
      printf "%-*s median %.0f req/s (min %.0f, max %.0f, %d runs)\n", w, A ":", a, lo[A], hi[A], n[A]
      printf "%-*s median %.0f req/s (min %.0f, max %.0f, %d runs)\n", w, B ":", b, lo[B], hi[B], n[B]
      printf "ratio %s/%s of the medians: %.1f%%\n", B, A, 100 * b / a
      printf "per-round ratios:"
      for (i = 1; i <= n[A]; i++) if (by[A, i] > 0) printf " %.1f%%", 100 * by[B, i] / by[A, i]
      printf "\n"
      ca = cpu[A] / n[A]; cb = cpu[B] / n[B]
      printf "server CPU per request: %s %.1f us, %s %.1f us (mean of the runs); %s = %.1f%%\n",
             A, ca, B, cb, cpu_ratio, (cpu_ratio == A "/" B ? 100 * ca / cb : 100 * cb / ca)
      if (bad != "") printf "WARNING: %s in:%s (see the wrk logs)\n", what, bad
    }' "$results"
  echo "logs: $LOGDIR" >&2
}

# ---- stats_gen ingest benchmarks ----------------------------------------

# gen_init NAME: the load's env defaults and WORK (default a fresh
# /var/tmp/wxs-NAME-bench.XXXXXX), removed on exit unless KEEP=1.
gen_init() {
  ROOT=$bench_root
  EVENTS=${EVENTS:-10000000}
  CHANNELS=${CHANNELS:-1000}
  DAYS=${DAYS:-365}
  BATCH=${BATCH:-100}
  BUILD=${BUILD:-$ROOT/build-bench}
  WORK=${WORK:-$(mktemp -d "/var/tmp/wxs-$1-bench.XXXXXX")}
  KEEP=${KEEP:-0}
  trap '[ "$KEEP" = 1 ] || rm -rf "$WORK"' EXIT
}

# gen_build: the Release library and wxscene in $BUILD, and
# $BUILD/stats_gen linked against them.
gen_build() {
  local pkgs="libevent libevent_pthreads libxml-2.0 libcurl sqlite3 libpq libcrypto inih jansson libqrencode libpng libutf8proc"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >/dev/null
  cmake --build "$BUILD" -j2 --target wxs wxscene >/dev/null
  # shellcheck disable=SC2046,SC2086
  cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/src" $(pkg-config --cflags $pkgs) \
     "$ROOT/bench/stats_gen.c" "$BUILD/libwxs.a" $(pkg-config --libs $pkgs) -lpthread -lm \
     -o "$BUILD/stats_gen"
}

# gen_config NAME: $WORK/NAME.ini on the store $WORK/NAME.db (mode 600: it
# holds a secret, so the CLI does not warn on each call).
gen_config() {
  cat > "$WORK/$1.ini" <<INI
[wechat]
appid = wx0123456789abcdef
appsecret = bench
token = benchtoken
[store]
path = $WORK/$1.db
INI
  chmod 600 "$WORK/$1.ini"
}

# field LINE KEY: KEY's value in a stats_gen line of KEY=VALUE words.
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# stats_ms INI [ARGS...]: five whole `wxscene stats --format json ARGS`
# processes, as a user runs them; their wall times in ms, sorted, a line
# each.
stats_ms() {
  local ini=$1 ms=() t0
  shift
  for _ in 1 2 3 4 5; do
    t0=$(date +%s%N)
    "$BUILD/wxscene" --config "$ini" stats --format json "$@" >/dev/null
    ms+=($(( ($(date +%s%N) - t0) / 1000000 )))
  done
  printf '%s\n' "${ms[@]}" | sort -n
}
