#!/bin/sh
# `make release-check` (and pkg.test_package): every place that states the
# version agrees before a release is tagged. Checks, in the tree this script
# sits in:
#   - CMakeLists.txt's project(wxscene VERSION X.Y.Z) (the one source: the
#     binaries' --version and the wxscene_build_info metric are built from it)
#   - debian/changelog's newest entry is X.Y.Z (or X.Y.Z-N)
#   - CHANGELOG.md has an "## [Unreleased]" section on top and then
#     "## [X.Y.Z] - YYYY-MM-DD" as the newest release, dated like the
#     debian/changelog entry
#   - with BUILD_DIR: BUILD_DIR/wxscene --version and wxscened --version
#     print X.Y.Z
#   - when HEAD carries a v* tag: it is vX.Y.Z and annotated
# Prints what disagrees, naming the file, and exits 1; exits 0 with one
# line saying the version otherwise.
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-}
fail=0
bad() {
    echo "release-check: $*" >&2
    fail=1
}

v=$(sed -n 's/^project(wxscene VERSION \([0-9][0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
if [ -z "$v" ]; then
    echo "release-check: $src/CMakeLists.txt: no 'project(wxscene VERSION X.Y.Z' line" >&2
    exit 1
fi

# debian/changelog: "wxscene (X.Y.Z[-N]) dist; urgency=..." and its " -- " date
deb_line=$(head -n 1 "$src/debian/changelog")
deb_v=$(echo "$deb_line" | sed -n 's/^wxscene (\([^)]*\)).*/\1/p')
case "$deb_v" in
"$v" | "$v"-[0-9]*) ;;
*) bad "debian/changelog: newest entry is '$deb_v', CMakeLists.txt says $v" ;;
esac
deb_date=$(sed -n '/^ -- /{s/.*>  *//p;q}' "$src/debian/changelog")
deb_day=$(date -u -d "$deb_date" +%Y-%m-%d 2>/dev/null || echo "?")

# CHANGELOG.md: the first two "## [" headings are Unreleased and X.Y.Z
heads=$(grep '^## \[' "$src/CHANGELOG.md" | head -n 2)
first=$(echo "$heads" | sed -n 1p)
second=$(echo "$heads" | sed -n 2p)
[ "$first" = "## [Unreleased]" ] ||
    bad "CHANGELOG.md: the first section is '$first', want '## [Unreleased]' (kept empty on top)"
rel_v=$(echo "$second" | sed -n 's/^## \[\([^]]*\)\] - [0-9-]*$/\1/p')
rel_day=$(echo "$second" | sed -n 's/^## \[[^]]*\] - \([0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}\)$/\1/p')
if [ "$rel_v" != "$v" ] || [ -z "$rel_day" ]; then
    bad "CHANGELOG.md: newest release is '$second', want '## [$v] - YYYY-MM-DD'"
elif [ "$rel_day" != "$deb_day" ]; then
    bad "CHANGELOG.md: $v is dated $rel_day, debian/changelog's entry $deb_day"
fi

if [ -n "$build" ]; then
    for b in wxscene wxscened; do
        got=$("$build/$b" --version 2>&1 || true)
        [ "$got" = "$b $v" ] || bad "$build/$b --version prints '$got', want '$b $v'"
    done
fi

if [ -d "$src/.git" ] || [ -f "$src/.git" ]; then
    tag=$(git -C "$src" describe --tags --exact-match --match 'v*' HEAD 2>/dev/null || true)
    if [ -n "$tag" ]; then
        [ "$tag" = "v$v" ] || bad "git: HEAD is tagged $tag, CMakeLists.txt says $v"
        [ "$(git -C "$src" cat-file -t "$tag")" = tag ] ||
            bad "git: $tag is a lightweight tag; release tags are annotated (git tag -a)"
    fi
fi

[ "$fail" = 0 ] || exit 1
echo "release-check: $v agrees (CMakeLists.txt, debian/changelog, CHANGELOG.md${build:+, the binaries in $build})"
