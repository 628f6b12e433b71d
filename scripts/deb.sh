#!/bin/sh
# `make deb`: builds the Debian package from a copy of this tree (so no
# build output lands beside the repo and build*/ var/ stay out of it) and
# leaves wxscene_VERSION_ARCH.deb and the .buildinfo/.changes in OUT
# (default build-deb/). A release build: debian/rules configures CMake
# with -DCMAKE_BUILD_TYPE=RelWithDebInfo and no tests.
set -eu
out=${1:-build-deb}
src=$(cd "$(dirname "$0")/.." && pwd)
command -v dpkg-buildpackage >/dev/null || {
    echo "deb: dpkg-buildpackage missing: sh scripts/deps.sh --deb" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/wxscene-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/wxscene"
# Everything but build trees, local state and VCS metadata.
(cd "$src" && tar -cf - --exclude='./build*' --exclude=./var --exclude=./.git \
    --exclude=__pycache__ --exclude=./bench/out .) | tar -xf - -C "$work/wxscene"
(cd "$work/wxscene" && dpkg-buildpackage -b -us -uc -j"${JOBS:-2}" >"$work/build.log" 2>&1) || {
    tail -n 60 "$work/build.log" >&2; echo "deb: dpkg-buildpackage failed" >&2; exit 1; }
rm -f "$out"/wxscene_*.deb "$out"/wxscene-dbgsym_*.deb
for f in "$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes; do
    [ -e "$f" ] && cp "$f" "$out/"
done
ls "$out"/wxscene_*.deb
