#!/bin/bash
# tests/pg/cluster.sh [-n N] COMMAND [ARG...]
#
# Runs COMMAND against N (default 1) throwaway PostgreSQL clusters and
# removes them afterwards, whatever happens. Each cluster lives in a temp
# dir, listens on a Unix socket in that dir only (no TCP port, so parallel
# runs never collide), trusts local connections, runs with fsync off and is
# named c1, c2, ... (its cluster_name). COMMAND gets, as libpq conninfo
# strings (key=value, so a test may append dbname=...):
#   WXS_TEST_PG_URL    cluster c1, user wxs, database postgres
#   WXS_TEST_PG_URL_2  cluster c2 (with -n 2), ...
# and WXS_TEST_PG_CTL(_2...): a script, `$WXS_TEST_PG_CTL stop -m fast` or
# `start`, that runs pg_ctl on that cluster as its server user.
# WXS_TEST_PG_OPTS: more server settings for every cluster, as pg_ctl -o
# takes them ("-c name=value ...": a benchmark's, bench/pg_profile.sh).
# As root, the server runs as the user postgres (or nobody), which owns the
# temp dir; otherwise as the caller.
#
# Exit status: COMMAND's; 77 (a skip for ctest) when PostgreSQL's server
# binaries are not installed (scripts/deps.sh installs them), or not in
# WXS_PG_BINDIR when that is set.
set -u

n=1
if [ "${1:-}" = "-n" ]; then
    n=$2
    shift 2
fi
if [ $# -eq 0 ]; then
    echo "usage: $0 [-n N] COMMAND [ARG...]" >&2
    exit 2
fi

# WXS_PG_BINDIR, else the newest of Debian's /usr/lib/postgresql/N/bin
# (initdb and pg_ctl are not in PATH there), else PATH.
bindir=""
if [ -n "${WXS_PG_BINDIR:-}" ]; then
    [ -x "$WXS_PG_BINDIR/initdb" ] && [ -x "$WXS_PG_BINDIR/pg_ctl" ] && bindir=$WXS_PG_BINDIR
else
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -n -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            bindir=$d
            break
        fi
    done
    if [ -z "$bindir" ] && command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        bindir=$(dirname "$(command -v initdb)")
    fi
fi
if [ -z "$bindir" ]; then
    echo "SKIP: PostgreSQL server binaries (initdb, pg_ctl) not found; scripts/deps.sh installs postgresql" >&2
    exit 77
fi

# /tmp, not $TMPDIR: a socket path must stay under ~100 bytes, and the
# server user must be able to reach the directory.
top=$(mktemp -d /tmp/wxs-pg.XXXXXX) || exit 1
# The server's commands run from inside $top (the server user may not be
# allowed into the caller's directory).
as_server() { (cd "$top" && "$@"); }
if [ "$(id -u)" -eq 0 ]; then
    user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown "$user" "$top"
    as_server() { (cd "$top" && runuser -u "$user" -- "$@"); }
fi

stop_all() {
    for ((i = 1; i <= n; i++)); do
        [ -f "$top/c$i/data/postmaster.pid" ] &&
            as_server "$bindir/pg_ctl" -D "$top/c$i/data" -m immediate -w stop >/dev/null 2>&1
    done
    rm -rf "$top"
}
trap stop_all EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# A SIGKILL (ctest's timeout) skips the trap: a watchdog, orphaned at once
# so that killing this script's process tree spares it, stops the clusters
# once this script is gone. Its output goes nowhere, so ctest does not wait
# for it.
watch_pid=$$
( (
    trap '' HUP INT TERM
    while kill -0 "$watch_pid" 2>/dev/null; do sleep 2; done
    stop_all
) </dev/null >/dev/null 2>&1 & )

for ((i = 1; i <= n; i++)); do
    dir=$top/c$i
    as_server mkdir -p "$dir"
    if ! as_server "$bindir/initdb" -D "$dir/data" -U wxs -A trust -E UTF8 --locale=C --no-sync \
        >"$top/initdb.log" 2>&1; then
        cat "$top/initdb.log" >&2
        exit 1
    fi
    opts="-c listen_addresses='' -c unix_socket_directories='$dir' -c port=5432"
    opts="$opts -c fsync=off -c full_page_writes=off -c cluster_name=c$i -c max_connections=40 ${WXS_TEST_PG_OPTS:-}"
    if ! as_server "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" \
        start >/dev/null; then
        cat "$dir/server.log" >&2
        exit 1
    fi
    url="host=$dir port=5432 user=wxs dbname=postgres"
    # $dir/ctl start|stop [pg_ctl options]: a fault test stops and starts
    # the cluster (as the server user, with the same options).
    runner=""
    [ "$(id -u)" -eq 0 ] && runner="runuser -u $user --"
    printf '#!/bin/bash\ncd %q || exit 1\nexec %s %q -D %q -l %q -w -t 60 -o %q "$@"\n' \
        "$top" "$runner" "$bindir/pg_ctl" "$dir/data" "$dir/server.log" "$opts" >"$top/ctl$i"
    chmod 755 "$top/ctl$i"
    if [ "$i" -eq 1 ]; then
        export WXS_TEST_PG_URL="$url" WXS_TEST_PG_CTL="$top/ctl1"
    else
        export "WXS_TEST_PG_URL_$i=$url" "WXS_TEST_PG_CTL_$i=$top/ctl$i"
    fi
    echo "cluster.sh: c$i ($("$bindir/pg_ctl" --version)) at $url" >&2
done

"$@"
rc=$?
exit $rc
