# tests/pg.sh: a private PostgreSQL for the tests and the demo. Source it:
#
#   . tests/pg.sh
#   pg_start DIR     start (initdb first when DIR is new) or reuse the server
#                    of DIR; exports PGHOST PGPORT PGUSER PGDATABASE LABWATCH_DB
#   pg_stop DIR      fast shutdown
#   pg_kill9 DIR     SIGKILL the server and its backends (a crash)
#   pg_restart DIR   stop if running, then start (recovers after pg_kill9)
#   pg_standby_start PRIMARY STANDBY
#                    a streaming standby of PRIMARY's (running) server in
#                    STANDBY (pg_basebackup -R), started; PRIMARY then waits
#                    for it at every commit (synchronous_standby_names = '*',
#                    synchronous_commit = on). PG* stay PRIMARY's.
#   pg_promote DIR   promote DIR's standby to a primary (pg_ctl promote)
#   pg_conninfo DIR...  a libpq conninfo for the servers of the DIRs (several
#                    hosts: the read-write one, target_session_attrs)
#
# DIR holds data/ (the cluster), sock/ (the Unix socket; no TCP at all) and
# server.log. As root the server runs as the postgres user (initdb refuses
# root), so DIR must be reachable by postgres: not under /root. Database
# labwatch is created; user postgres with trust authentication on the
# socket, which only the owner of DIR's sock/ can reach. fsync stays on.
# Debian's own cluster (15/main) is never touched. POSIX sh.

# The newest installed server's bin directory.
pg_bindir() {
	_pg_b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5n |
		tail -n 1)
	if [ -z "$_pg_b" ] && command -v pg_config >/dev/null 2>&1; then
		_pg_b=$(pg_config --bindir)
	fi
	if [ -z "$_pg_b" ] || [ ! -x "$_pg_b/initdb" ]; then
		echo "pg.sh: no PostgreSQL server found (apt-get install postgresql)" >&2
		return 1
	fi
	echo "$_pg_b"
}

# Run a command as the server's owner: postgres when we are root.
_pg_as() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

_pg_dirs() { # DIR: absolute paths in _pg_dir _pg_data _pg_sock
	if [ -z "${1:-}" ]; then
		echo "pg.sh: a directory is required" >&2
		return 2
	fi
	mkdir -p "$1" || return 1
	_pg_dir=$(cd "$1" && pwd) || return 1
	_pg_data=$_pg_dir/data
	_pg_sock=$_pg_dir/sock
	case $_pg_dir in
	*[!A-Za-z0-9/._-]*)
		echo "pg.sh: $_pg_dir: use a path of letters, digits and / . _ -" >&2
		return 2 ;;
	esac
	# A socket path is limited to 107 bytes.
	if [ ${#_pg_sock} -gt 90 ]; then
		echo "pg.sh: $_pg_dir: path too long for a Unix socket" >&2
		return 2
	fi
}

_pg_running() { # uses _pg_data
	[ -f "$_pg_data/postmaster.pid" ] &&
		(cd / && _pg_as "$_pg_bin/pg_ctl" -D "$_pg_data" status) >/dev/null 2>&1
}

_pg_export() {
	export PGHOST="$_pg_sock" PGPORT=5432 PGUSER=postgres PGDATABASE=labwatch
	export LABWATCH_DB="host=$_pg_sock port=5432 dbname=labwatch user=postgres"
}

pg_start() {
	_pg_bin=$(pg_bindir) || return 1
	_pg_dirs "${1:-}" || return $?
	if [ "$(id -u)" -eq 0 ]; then
		if ! runuser -u postgres -- test -x "$_pg_dir"; then
			echo "pg.sh: $_pg_dir is not reachable by the postgres user" \
				"(a parent directory is not searchable)" >&2
			return 1
		fi
	fi
	mkdir -p "$_pg_sock" || return 1
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$_pg_sock" || return 1
	fi
	chmod 700 "$_pg_sock"
	if [ ! -s "$_pg_data/PG_VERSION" ]; then
		mkdir -p "$_pg_data" || return 1
		if [ "$(id -u)" -eq 0 ]; then
			chown postgres:postgres "$_pg_data" || return 1
		fi
		chmod 700 "$_pg_data"
		if ! (cd / && _pg_as "$_pg_bin/initdb" -D "$_pg_data" -U postgres \
			-A trust -E UTF8 --no-locale) >"$_pg_dir/initdb.log" 2>&1; then
			echo "pg.sh: initdb failed; see $_pg_dir/initdb.log" >&2
			return 1
		fi
		# Unix socket only, in our directory; durable like production.
		_pg_as sh -c "cat >>'$_pg_data/postgresql.conf'" <<EOF
# pg.sh
listen_addresses = ''
port = 5432
unix_socket_directories = '$_pg_sock'
unix_socket_permissions = 0700
fsync = on
synchronous_commit = on
max_connections = 100
EOF
	fi
	if ! _pg_running; then
		if ! (cd / && _pg_as "$_pg_bin/pg_ctl" -D "$_pg_data" \
			-l "$_pg_data/server.log" -w -t 60 start) >/dev/null 2>&1; then
			echo "pg.sh: the server did not start; see" \
				"$_pg_data/server.log" >&2
			tail -n 5 "$_pg_data/server.log" >&2 2>/dev/null
			return 1
		fi
	fi
	_pg_export
	if [ "$("$_pg_bin/psql" -X -q -h "$_pg_sock" -U postgres -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'labwatch'")" != 1 ]; then
		"$_pg_bin/psql" -X -q -h "$_pg_sock" -U postgres -d postgres \
			-c "CREATE DATABASE labwatch" >/dev/null || return 1
	fi
}

pg_stop() {
	_pg_bin=$(pg_bindir) || return 1
	_pg_dirs "${1:-}" || return $?
	if _pg_running; then
		(cd / && _pg_as "$_pg_bin/pg_ctl" -D "$_pg_data" -m fast -w -t 60 \
			stop) >/dev/null 2>&1 || return 1
	fi
	return 0
}

pg_kill9() {
	_pg_bin=$(pg_bindir) || return 1
	_pg_dirs "${1:-}" || return $?
	[ -f "$_pg_data/postmaster.pid" ] || return 0
	_pg_pid=$(head -n 1 "$_pg_data/postmaster.pid")
	case $_pg_pid in '' | *[!0-9]*) return 1 ;; esac
	# Only our postmaster: its pid file names this data directory.
	[ "$(sed -n 2p "$_pg_data/postmaster.pid")" = "$_pg_data" ] || return 1
	kill -0 "$_pg_pid" 2>/dev/null || return 0
	_pg_kids=$(ps -o pid= --ppid "$_pg_pid" 2>/dev/null)
	kill -9 "$_pg_pid"
	# shellcheck disable=SC2086
	[ -n "$_pg_kids" ] && kill -9 $_pg_kids 2>/dev/null
	# Wait until they are gone, or the next start finds its shared memory in use.
	_pg_n=0
	while kill -0 "$_pg_pid" 2>/dev/null ||
		{ [ -n "$_pg_kids" ] && ps -o pid= -p "$(echo $_pg_kids | tr ' ' ,)" \
			>/dev/null 2>&1; }; do
		_pg_n=$((_pg_n + 1))
		[ $_pg_n -gt 100 ] && return 1
		sleep 0.1
	done
	return 0
}

pg_restart() {
	pg_stop "${1:-}" || return $?
	pg_start "${1:-}"
}

pg_standby_start() {
	_pg_bin=$(pg_bindir) || return 1
	_pg_dirs "${1:-}" || return $?
	_pg_primary=$_pg_sock
	_pg_dirs "${2:-}" || return $?
	mkdir -p "$_pg_sock" "$_pg_data" || return 1
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$_pg_sock" "$_pg_data" || return 1
	fi
	chmod 700 "$_pg_sock" "$_pg_data"
	if ! (cd / && _pg_as "$_pg_bin/pg_basebackup" -h "$_pg_primary" -p 5432 \
		-U postgres -D "$_pg_data" -R -X stream -c fast) \
		>"$_pg_dir/basebackup.log" 2>&1; then
		echo "pg.sh: pg_basebackup failed; see $_pg_dir/basebackup.log" >&2
		return 1
	fi
	# Its own socket (the copied configuration names the primary's).
	echo "unix_socket_directories = '$_pg_sock' # pg.sh standby" |
		_pg_as sh -c "cat >>'$_pg_data/postgresql.conf'"
	if ! (cd / && _pg_as "$_pg_bin/pg_ctl" -D "$_pg_data" \
		-l "$_pg_data/server.log" -w -t 60 start) >/dev/null 2>&1; then
		echo "pg.sh: the standby did not start; see $_pg_data/server.log" >&2
		return 1
	fi
	# Synchronous from now on: a commit waits for the standby's flush.
	"$_pg_bin/psql" -X -q -h "$_pg_primary" -U postgres -d postgres \
		-c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
		-c "ALTER SYSTEM SET synchronous_commit = on" \
		-c "SELECT pg_reload_conf()" >/dev/null || return 1
	_pg_n=0
	until [ "$("$_pg_bin/psql" -X -A -t -h "$_pg_primary" -U postgres \
		-d postgres -c "SELECT count(*) FROM pg_stat_replication
		WHERE sync_state = 'sync' AND state = 'streaming'")" = 1 ]; do
		_pg_n=$((_pg_n + 1))
		if [ $_pg_n -gt 300 ]; then
			echo "pg.sh: the standby is not synchronous" >&2
			return 1
		fi
		sleep 0.1
	done
}

pg_promote() {
	_pg_bin=$(pg_bindir) || return 1
	_pg_dirs "${1:-}" || return $?
	(cd / && _pg_as "$_pg_bin/pg_ctl" -D "$_pg_data" -w -t 60 promote) \
		>/dev/null 2>&1
}

pg_conninfo() {
	_pg_hosts=
	for _pg_d in "$@"; do
		_pg_dirs "$_pg_d" || return $?
		_pg_hosts=${_pg_hosts:+$_pg_hosts,}$_pg_sock
	done
	echo "host=$_pg_hosts port=5432 dbname=labwatch user=postgres target_session_attrs=read-write"
}
