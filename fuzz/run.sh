#!/usr/bin/env bash
# usage: fuzz/run.sh short|long [TARGET...]      (targets: xml query crypt csv log)
#   short  FUZZ_SECONDS (default 8) per target: the smoke run in `make test`
#          (ctest test fuzz.short)
#   long   FUZZ_SECONDS (default 300) per target: `make fuzz`
# Builds the libFuzzer targets with clang (ASan+UBSan) in $FUZZ_BUILD (default
# build-fuzz/) and runs each over its seeds in fuzz/corpus/NAME/. The seeds
# are only read; inputs the fuzzer finds go to $FUZZ_BUILD/corpus/NAME/.
# A crash, leak, sanitizer report or timeout fails the run and leaves the
# input in $FUZZ_BUILD/artifacts/ (rerun it: build-fuzz/fuzz/fuzz_NAME FILE).
# Exits 77 (ctest SKIP) when clang or the libFuzzer runtime is missing:
# `sh scripts/deps.sh --fuzz` installs clang and libclang-rt-14-dev.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-}
case $mode in
  short) secs=${FUZZ_SECONDS:-8} ;;
  long) secs=${FUZZ_SECONDS:-300} ;;
  *) sed -n 2p "$0" >&2; exit 2 ;;
esac
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(xml query crypt csv log)
build=${FUZZ_BUILD:-$root/build-fuzz}

skip() { echo "SKIP: $*" >&2; exit 77; }
command -v clang >/dev/null || skip "clang not found (sh scripts/deps.sh --fuzz installs clang libclang-rt-14-dev)"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>"$probe/err" \
  || skip "clang cannot link libFuzzer: $(head -n 1 "$probe/err") (install libclang-rt-14-dev)"

echo "fuzz: building in $build" >&2
CC=clang cmake -S "$root" -B "$build" -DWXSCENE_FUZZ=ON -DBUILD_TESTING=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$probe/cmake.log" 2>&1 || { cat "$probe/cmake.log" >&2; exit 1; }
cmake --build "$build" --target fuzzers -j "${JOBS:-2}" >"$probe/build.log" 2>&1 || { cat "$probe/build.log" >&2; exit 1; }

declare -A maxlen=([xml]=16384 [query]=4096 [crypt]=8192 [csv]=8192 [log]=4096)
failed=0
mkdir -p "$build/artifacts"
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t" seeds="$root/fuzz/corpus/$t" work="$build/corpus/$t" log="$build/fuzz_$t.log"
  [ -x "$bin" ] && [ -d "$seeds" ] || { echo "fuzz: unknown target '$t'" >&2; exit 2; }
  mkdir -p "$work"
  if ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -max_len="${maxlen[$t]:-8192}" -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
      "$work" "$seeds" >"$log" 2>&1; then
    runs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "fuzz_$t: ok, ${secs}s, ${runs:-?} runs, ${cov:-cov: ?}, corpus $(ls "$work" | wc -l) + $(ls "$seeds" | wc -l) seeds"
  else
    tail -n 40 "$log" >&2
    echo "fuzz_$t: FAILED (log $log; input in $build/artifacts/)" >&2
    failed=1
  fi
done
exit "$failed"
