#!/usr/bin/env bash
# usage: bench/prepare.sh SHARED_BENCH HARNESS_COPY
# The shared harness may be read-only: bench.sh and pg_bench.sh work on a
# copy, keeping the compiled limit server and node_modules between runs.
set -euo pipefail
shared=${1:?usage} harness=${2:?usage}
die() { echo "bench: $*" >&2; exit 1; }
[ -f "$shared/compare.sh" ] || die "the shared harness is missing: expected $shared"
mkdir -p "$harness"
(cd "$shared" && tar -cf - --exclude=node_modules --exclude='limit/limit_evhttp' .) | (cd "$harness" && tar -xf -)
chmod -R u+w "$harness"
make -s -C "$harness/limit" || die "cannot build the evhttp limit server"
if [ ! -d "$harness/peer-node/node_modules" ] ||
  ! cmp -s "$harness/peer-node/package-lock.json" "$harness/peer-node/node_modules/.lock-copy"; then
  echo "bench: npm ci for the Node.js peer (builds better-sqlite3, ~1.5 min)" >&2
  (cd "$harness/peer-node" && npm ci --no-audit --no-fund >&2) || die "npm ci failed"
  cp "$harness/peer-node/package-lock.json" "$harness/peer-node/node_modules/.lock-copy"
fi
