#!/usr/bin/env bash
# usage: bench/pg_bench.sh [BUILD]       (make bench runs it after bench.sh)
# wxscened on PostgreSQL, one instance and two instances behind nginx,
# beside limit-evhttp, peer-node-store and wxscened on SQLite, in the same
# interleaved rounds of the shared harness's run.sh (same load as
# bench.sh: distinct signed pushes, wrk -c64). Each round gets fresh
# databases; after each PostgreSQL run the events rows are counted against
# the responses wrk saw. Writes the table, medians and ratios into
# docs/benchmarks.md between "pgbench:begin" and "pgbench:end".
# Runs under tests/pg/cluster.sh (a throwaway cluster: Unix socket, fsync
# off, on this machine) unless WXS_TEST_PG_URL names a server already.
# env: ROUNDS=3, THREADS CONNS DURATION WARMUP as in the harness,
#      BENCH_OUT=bench/out (the harness copy, node_modules, logs in pglogs/),
#      BENCH_DOC=docs/benchmarks.md (empty: print only).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
if [ -z "${WXS_TEST_PG_URL:-}" ]; then
  exec "$root/tests/pg/cluster.sh" bash "$0" "$build"
fi
out=${BENCH_OUT:-$root/bench/out}
doc=${BENCH_DOC-$root/docs/benchmarks.md}
harness="$out/harness"
rounds=${ROUNDS:-3}
die() { echo "pg_bench: $*" >&2; exit 1; }
bash "$root/bench/prepare.sh" "$root/../shared/bench" "$harness" || die "cannot prepare the harness copy"
command -v nginx >/dev/null || die "nginx not found (sh scripts/deps.sh --bench)"
logs="$out/pglogs"
rm -rf "$logs" && mkdir -p "$logs"
dbdir=$(mktemp -d /tmp/pg-bench.XXXXXX)
trap 'rm -rf "$dbdir"' EXIT
sql() { psql -qAt -v ON_ERROR_STOP=1 "$WXS_TEST_PG_URL" "$@"; }
lines=()
bench() { # NAME PORT CMD...
  local name=$1 port=$2 line
  shift 2
  echo "### round $round: $name" >&2
  bash "$harness/run.sh" "$name" "$port" /wx benchtoken -- "$@" >"$LOGDIR/$name.log" 2>&1 || true
  line=$(grep "^$name req/s=" "$LOGDIR/$name.log") || line="$name req/s=FAILED"
  echo "$line" >&2
  lines+=("$line round=$round")
  sleep 1
}
responses() { grep -o 'push.lua: responses=[0-9]*' "$LOGDIR/$1.log" | awk -F= '{ n += $2 } END { print n + 0 }'; }
for round in $(seq "$rounds"); do
  export LOGDIR="$logs/r$round"
  mkdir -p "$LOGDIR"
  bench limit-evhttp 18081 "$harness/limit/limit_evhttp" 18081
  NODE_ENV=production DB="$dbdir/r$round.db" bench peer-node-store 18084 \
    node "$harness/peer-node/server.js" 18084 benchtoken /wx
  bench wxscened-sqlite 18085 bash "$root/bench/serve.sh" "$build" 18085
  for n in 1 2; do
    db="bench_r${round}_$n"
    sql -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    bench "wxscened-pg$n" $((18090 + 10 * n)) bash "$root/bench/pg_serve.sh" "$build" "$n" \
      $((18090 + 10 * n)) "$WXS_TEST_PG_URL dbname=$db"
    rows=$(psql -qAt "$WXS_TEST_PG_URL dbname=$db" -c "SELECT count(*) FROM events")
    echo "store round=$round server=wxscened-pg$n rows=$rows responses=$(responses "wxscened-pg$n")" >>"$logs/store.txt"
    # a finished round's database goes: autovacuum's visits to it would
    # load the machine during the next runs (a deployment has one database)
    sql -c "DROP DATABASE $db"
  done
done
printf '%s\n' "${lines[@]}" >"$logs/lines.txt"
python3 - "$logs" "$doc" "$build" <<'PY'
import os, re, statistics, subprocess, sys, time
logs, doc, build = sys.argv[1:4]
rows = []
for line in open(os.path.join(logs, "lines.txt")):
    f = line.split()
    kv = dict(x.split("=", 1) for x in f[1:])
    rows.append((f[0], kv))
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v or "")
    return None if not m else float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
def num(v):
    try: return float(v)
    except (TypeError, ValueError): return None
names = ["limit-evhttp", "peer-node-store", "wxscened-sqlite", "wxscened-pg1", "wxscened-pg2"]
by = {}
for name, kv in rows:
    by.setdefault(kv["round"], {})[name] = kv
store = open(os.path.join(logs, "store.txt")).read().strip().splitlines()
pg_ver = subprocess.run(["psql", "-qAt", os.environ["WXS_TEST_PG_URL"], "-c", "SHOW server_version"],
                        capture_output=True, text=True).stdout.strip()
out = ["<!-- pgbench:begin -->", "", "### PostgreSQL, latest run (written by `make bench`: bench/pg_bench.sh)", "",
       f"{time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {os.cpu_count()} CPUs, PostgreSQL {pg_ver} "
       "(throwaway cluster on this machine, Unix socket, fsync off; its CPU is not in srv CPU), "
       f"wrk -t{os.environ.get('THREADS', '1')} -c{os.environ.get('CONNS', '64')} -d{os.environ.get('DURATION', '10s')}, "
       f"{len(by)} round(s). pg2 = two instances behind nginx (bench/pg_serve.sh).", "",
       "| round | server | req/s | p50 ms | p99 ms | non2xx | sockerr | srv CPU | x limit-evhttp | x peer-node-store |",
       "|---|---|---|---|---|---|---|---|---|---|"]
ratios = {n: ([], []) for n in names}
for r in sorted(by, key=int):
    lim = num(by[r].get("limit-evhttp", {}).get("req/s"))
    peer = num(by[r].get("peer-node-store", {}).get("req/s"))
    for n in names:
        kv = by[r].get(n)
        if not kv: continue
        rps = num(kv.get("req/s"))
        a = rps / lim if rps and lim else None
        b = rps / peer if rps and peer else None
        if a: ratios[n][0].append(a)
        if b: ratios[n][1].append(b)
        fmt = lambda x, s="{:.2f}": "-" if x is None else s.format(x)
        out.append(f"| {r} | {n} | {fmt(rps, '{:.0f}')} | {fmt(ms(kv.get('p50')))} | {fmt(ms(kv.get('p99')))} | "
                   f"{kv.get('non2xx', '-')} | {kv.get('sockerr', '-')} | {kv.get('srvcpu', '-')} | {fmt(a)} | {fmt(b)} |")
out += ["", "| server | median req/s | median p99 ms | median x limit-evhttp | median x peer-node-store |", "|---|---|---|---|---|"]
for n in names:
    rs = [num(by[r][n]["req/s"]) for r in by if n in by[r] and num(by[r][n].get("req/s"))]
    ps = [ms(by[r][n]["p99"]) for r in by if n in by[r] and ms(by[r][n].get("p99"))]
    med = lambda xs, s="{:.2f}": s.format(statistics.median(xs)) if xs else "-"
    out.append(f"| {n} | {med(rs, '{:.0f}')} | {med(ps)} | {med(ratios[n][0])} | {med(ratios[n][1])} |")
conns = int(os.environ.get("CONNS", "64"))
out += ["", "Store check: events rows after the run vs responses wrk saw (warm-up and run). Rows may exceed "
        f"them by the check request and the requests in flight when the warm-up and the run stopped: at most 1 + 2 x {conns}.", ""]
for line in store:
    kv = dict(x.split("=", 1) for x in line.split()[1:])
    extra = int(kv["rows"] or 0) - int(kv["responses"] or 0)
    ok = 0 <= extra <= 1 + 2 * conns
    out.append(f"- round {kv['round']} {kv['server']}: rows {kv['rows']}, responses {kv['responses']}: "
               + ("every acknowledged push stored" if ok else f"MISMATCH ({extra:+d})"))
out += ["", "<!-- pgbench:end -->"]
section = "\n".join(out) + "\n"
if not doc:
    print(section); sys.exit(0)
text = open(doc).read()
b, e = text.find("<!-- pgbench:begin -->"), text.find("<!-- pgbench:end -->")
if b >= 0 and e > b:
    text = text[:b] + section.rstrip("\n") + text[e + len("<!-- pgbench:end -->"):]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(doc, "w").write(text)
print(section)
PY
