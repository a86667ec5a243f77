# tests/hostile/common.sh: what frames.sh and crowd.sh share. Sourced
# after the caller has parsed its --full: a private PostgreSQL (tests/pg.sh)
# started in $PGD, stopped with every daemon at exit (tests/lib.sh's
# pg_suite), and hostile_conf FILE [LINES] writing a labwatchd.conf for
# it. By hand from a build directory "build" beside the sources, or under
# make check.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
if [ -z "${top_builddir:-}" ] && [ -x "$top_srcdir/build/daemon/labwatchd" ]; then
	top_builddir=$top_srcdir/build
fi
. "$top_srcdir/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
HERE=$top_srcdir/tests/hostile
pg_suite hostile
hostile_conf() { # FILE [EXTRA LINES]
	lwd_db_conf "$1" "log_level = info
${2:-}"
}
# rss PIDFILE: resident KiB of the daemon
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$(cat "$1")/status"; }
