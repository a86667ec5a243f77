# tests/hostile/common.sh: what frames.sh and crowd.sh share. Sourced
# after the caller has parsed its --full: a private PostgreSQL (tests/pg.sh)
# started in $PGD, stopped with every daemon at exit, and hostile_conf FILE
# [LINES] writing a labwatchd.conf for it. By hand from a build directory
# "build" beside the sources, or under make check.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
if [ -z "${top_builddir:-}" ] && [ -x "$top_srcdir/build/daemon/labwatchd" ]; then
	top_builddir=$top_srcdir/build
fi
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/pg.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
HERE=$top_srcdir/tests/hostile
PGD=$(mktemp -d /tmp/lw-hostile.XXXXXX)
chmod 755 "$PGD"
hostile_cleanup() {
	for f in "$TMP"/*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	pg_stop "$PGD" >/dev/null 2>&1
	rm -rf "$PGD" "$TMP"
}
trap hostile_cleanup EXIT
pg_start "$PGD" >/dev/null || { echo "cannot start PostgreSQL"; exit 1; }
q() { psql -X -A -t -q -c "$1"; }
hostile_conf() { # FILE [EXTRA LINES]
	cat >"$1" <<CONF
[labwatchd]
listen = 127.0.0.1:0
db = $LABWATCH_DB connect_timeout=2
migrate = yes
sql_dir = $top_srcdir/sql
protocol = $top_srcdir/rules/data/protocols/nct04933669.conf
spool_path = $PGD/spool
log_level = info
${2:-}
CONF
}
# rss PIDFILE: resident KiB of the daemon
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$(cat "$1")/status"; }
