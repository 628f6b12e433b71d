#!/bin/sh
# Installs the Debian packages wxscene needs to build, test and benchmark,
# only those missing, so a fresh Debian 12 / Ubuntu 22.04+ machine needs
# nothing else. Uses sudo when not root. WXSCENE_NO_DEPS=1 skips it.
# postgresql: the server binaries the tests start throwaway clusters with
# (tests/pg/cluster.sh); the cluster Debian creates at install is not used.
# --deb: what `make deb` and the package test need (dpkg-buildpackage, dh).
set -eu
[ "${WXSCENE_NO_DEPS:-0}" = 1 ] && exit 0
pkgs="build-essential cmake pkg-config
libevent-dev libxml2-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev libssl-dev
libinih-dev libjansson-dev libqrencode-dev libpng-dev libutf8proc-dev libcmocka-dev
python3 python3-cryptography python3-psycopg2 zbar-tools sqlite3 postgresql curl tzdata
nginx-light openssl"
case "${1:-}" in
  --bench) pkgs="$pkgs wrk nginx-light linux-perf valgrind"
           command -v npm >/dev/null || pkgs="$pkgs nodejs npm" ;;
  --fuzz)  pkgs="$pkgs clang libclang-rt-14-dev" ;;
  --browser) pkgs="$pkgs chromium fonts-wqy-microhei" ;;
  --deb)   pkgs="$pkgs debhelper devscripts fakeroot dpkg-dev" ;;
esac
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
