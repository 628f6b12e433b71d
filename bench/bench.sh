#!/usr/bin/env bash
# usage: bench/bench.sh [BUILD]          (make bench = build + deps + this)
# Benchmarks BUILD/wxscened (default build/, a release build) beside the
# references of the shared load harness (../shared/bench next to the repo:
# limit-evhttp, limit-nginx if installed, peer-node, peer-node-store), all in
# the same interleaved rounds on 127.0.0.1, and writes the results (req/s,
# p50/p99, CPU, RSS, ratios, the store check) into docs/benchmarks.md
# between its "bench:begin" and "bench:end" markers.
# env: ROUNDS=3 and the harness's THREADS CONNS DURATION WARMUP (see
#      ../shared/bench/README.md); BENCH_OUT=bench/out (work copy of the
#      harness, node_modules, logs); BENCH_DOC=docs/benchmarks.md
#      (BENCH_DOC= prints the section instead of editing the file);
#      WXS_BENCH_SYNC=full ([store] synchronous for wxscened, default normal);
#      BENCH_COMMIT=what BUILD was built from (default: git describe of the tree).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
shared="$root/../shared/bench"
out=${BENCH_OUT:-$root/bench/out}
doc=${BENCH_DOC-$root/docs/benchmarks.md}
export ROUNDS=${ROUNDS:-3}
port=18085

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$build/wxscened" ] || die "$build/wxscened not found (make build)"
[ -f "$shared/compare.sh" ] || die "the shared harness is missing: expected $(cd "$root/.." && pwd)/shared/bench (the repo's CI keeps shared/ beside the clone)"
for t in wrk curl node npm make cc python3; do
  command -v "$t" >/dev/null || die "$t not found (sh scripts/deps.sh --bench)"
done

harness="$out/harness"
bash "$root/bench/prepare.sh" "$shared" "$harness" || die "cannot prepare the harness copy"

logs="$out/logs"
rm -rf "$logs"
mkdir -p "$logs"
echo "bench: $ROUNDS round(s); logs in $logs" >&2
LOGDIR="$logs" bash "$harness/compare.sh" wxscened "$port" -- \
  bash "$root/bench/serve.sh" "$build" "$port" | tee "$out/compare.md"

python3 "$root/bench/report.py" --logs "$logs" --compare "$out/compare.md" \
  --build "$build" --root "$root" --doc "$doc"
