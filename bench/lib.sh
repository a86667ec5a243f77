# shellcheck shell=bash
# bench/lib.sh: what the bench/run-* scripts share; sourced (bash) from the
# top of the tree after `set -euo pipefail`, with $bench_name set. It gives
# $top, a scratch directory $work (reachable by the postgres user), $pids
# (killed at exit, with the private PostgreSQL and $work) and:
#
#   log MSG...                  a line on stderr, prefixed with $bench_name
#   free_port                   a free TCP port on 127.0.0.1
#   wait_port PORT PID          until PORT accepts (1 if PID died first)
#   bench_build TARGET...       make TARGETs in $build (BUILD, else
#                               .bench-build, configured -O2 -g if missing)
#   bench_pg_start [DIR]        a private PostgreSQL: $pg_dir, $LABWATCH_DB;
#                               in DIR when given, kept there at exit (a
#                               loaded database reused by a later run)
#   bench_pg_stop               stop it and remove $pg_dir (a fresh one
#                               may be started after)
#   q SQL                       one query on $LABWATCH_DB's database,
#                               unaligned, tuples only
#   labwatchd_start PORT [CONNINFO]  labwatchd on PORT, durable (ACK after
#                               COMMIT), into CONNINFO (default
#                               $LABWATCH_DB), migrations applied; its pid
#                               in $server_pid. sql/ and the protocol come
#                               from $bench_src (default $top)
#   stop_server                 SIGTERM $server_pid and wait
: "${bench_name:?set bench_name before sourcing bench/lib.sh}"
top=$(pwd)
work=$(mktemp -d "/tmp/labwatch-$bench_name.XXXXXX")
chmod 755 "$work"
pids=()
pg_dir=
pg_keep=
server_pid=

bench_cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$pg_dir" ]; then
		pg_stop "$pg_dir" >/dev/null 2>&1 || true
		[ -n "$pg_keep" ] || rm -rf "$pg_dir"
	fi
	rm -rf "$work"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s: %s\n' "$bench_name" "$*" >&2; }

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	local port=$1 pid=$2
	for _ in $(seq 1 200); do
		if ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

bench_build() {
	build=${BUILD:-$top/.bench-build}
	[ -f configure ] || autoreconf -fi >/dev/null
	mkdir -p "$build"
	if [ ! -f "$build/Makefile" ]; then
		(cd "$build" && "$top/configure" -q CFLAGS="-O2 -g") >/dev/null
	fi
	# bench/mllp_load comes from Makefile.am's EXTRA_PROGRAMS.
	make -C "$build" -s -j"$(nproc)" "$@" >/dev/null
}

bench_pg_start() {
	# shellcheck source=/dev/null
	. "$top/tests/pg.sh"
	pg_keep=${1:-}
	if [ -n "$pg_keep" ]; then
		pg_dir=$pg_keep
		mkdir -p "$pg_dir"
	else
		pg_dir=$(mktemp -d "/tmp/labwatch-$bench_name-pg.XXXXXX")
	fi
	chmod 755 "$pg_dir"
	pg_start "$pg_dir" >/dev/null
	: "${LABWATCH_DB:?tests/pg.sh did not export LABWATCH_DB}"
}

bench_pg_stop() {
	pg_stop "$pg_dir" >/dev/null
	rm -rf "$pg_dir"
	pg_dir=
}

q() { psql -X -A -t -q -c "$1"; }

labwatchd_start() {
	local port=$1 db=${2:-$LABWATCH_DB}
	mkdir -p "$work/spool-$port"
	cat >"$work/labwatchd-$port.conf" <<EOF2
[labwatchd]
listen = 127.0.0.1:$port
db = $db
migrate = yes
sql_dir = ${bench_src:-$top}/sql
protocol = ${bench_src:-$top}/rules/data/protocols/nct04933669.conf
spool_path = $work/spool-$port/spool
max_connections = 2048
max_connections_per_peer = 2048
log_level = warn
EOF2
	"$build/daemon/labwatchd" -c "$work/labwatchd-$port.conf" \
		>"$work/labwatchd-$port.out" 2>"$work/labwatchd-$port.err" &
	server_pid=$!
	pids+=("$server_pid")
	wait_port "$port" "$server_pid" || {
		log "labwatchd did not open port $port:"
		cat "$work/labwatchd-$port.err" >&2
		exit 1
	}
}

stop_server() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
}
