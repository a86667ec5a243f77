# tests/lib.sh: what the shell tests share. Each case reports PASS/FAIL and
# the script ends with a Criterion-style "Synthesis" line that ./scripts/test
# adds to its totals.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
# Absolute, so that a test may cd (make check passes relative paths).
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
PY=/usr/bin/python3
t_pass=0
t_fail=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/labwatch-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# A suite of minutes (load, faults, a package build) runs in full once, in
# the main build of ./scripts/test; its ASan pass and distcheck name it in
# LABWATCH_SKIP (space-separated) to leave it out, with a SKIP line.
skip_if_listed() { # NAME
	case " ${LABWATCH_SKIP:-} " in
	*" $1 "*)
		echo "SKIP: $1: left out of this pass (LABWATCH_SKIP); the main build runs it"
		exit 77
		;;
	esac
}
# Every suite may also be named by its file (e.g. store_db, for distcheck).
skip_if_listed "$(basename "$0" .sh)"

ok() { t_pass=$((t_pass + 1)); echo "PASS: $1"; }
not_ok() { t_fail=$((t_fail + 1)); echo "FAIL: $1${2:+: $2}"; }
# eq GOT WANT, has FILE TEXT, hasnt FILE TEXT: for check; say why not.
eq() { [ "$1" = "$2" ] || { echo "got '$1', want '$2'"; return 1; }; }
has() { grep -qF -- "$2" "$1" || { echo "no '$2' in $1"; head -c 600 "$1"; return 1; }; }
hasnt() { ! grep -qF -- "$2" "$1" || { echo "'$2' in $1"; return 1; }; }
# no_patient_data ERE FILE...: no line of the logs matches ERE once the
# suite's own directories ($TMP, the private PostgreSQL's $PGD) are taken
# out of them (a log names its spool and socket paths, and mktemp's random
# name can spell an identifier: two CI failures, "aiKPjJ" matching K[0-9]*P);
# says which lines do. A missing log fails.
no_patient_data() {
	local ere=$1 f
	shift
	for f; do [ -r "$f" ] || { echo "no log $f"; return 1; }; done
	! own_dirs_out "$@" | grep -E -- "$ere" | head -n 5 | grep .
}
# own_dirs_out FILE...: the files, the suite's own directories taken out.
own_dirs_out() { sed -e "s|$TMP||g" ${PGD:+-e "s|$PGD||g"} "$@"; }
# check NAME COMMAND...: the command's exit status decides.
check() {
	local name=$1
	shift
	if "$@" >"$TMP/check.out" 2>&1; then ok "$name"; else
		not_ok "$name" "$(tail -n 5 "$TMP/check.out")"
	fi
}
# json_assert FILE EXPR: EXPR, a Python expression, must hold over the JSON
# lines of FILE: L (all of them; other lines are skipped), P (labwatch
# check's per-patient lines by patient id), O (its observation lines).
json_assert() {
	$PY - "$1" "$2" <<'EOF'
import json, sys
L = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.startswith("{")]
P = {l["patient_id"]: l for l in L if "criteria" in l and "patient_id" in l}
O = [l for l in L if "analyte" in l and "criteria" not in l]
ok = eval("(" + sys.argv[2] + ")")
if not ok:
    print("assertion failed:", sys.argv[2]); [print(l) for l in L[:8]]; sys.exit(1)
EOF
}

# check_observation_links: the invariant that replaced the observations'
# foreign keys (sql/002): every observation's message and patient exist,
# and there are observations to check. Needs q() of the calling script.
check_observation_links() {
	check "observations were stored" test "$(q "select count(*) from labwatch.observations")" -gt 0
	check "every observation's message and patient exist" test "$(q "select count(*) from labwatch.observations o where not exists (select 1 from labwatch.messages m where m.id = o.message) or not exists (select 1 from labwatch.patients p where p.id = o.patient)")" -eq 0
}

# oru PID CONTROL_ID DTM "CODE|VT|VALUE|UNIT|RANGE"...: an ORU^R01 as a LIS
# sends it, CR-terminated, one OBX per argument, all observed at DTM.
oru() { # PID-8 is $ORU_SEX, F when unset; OBX-11 $ORU_STATUS, F when unset
	pid=$1 cid=$2 when=$3
	shift 3
	printf 'MSH|^~\\&|LIS|MAINLAB|LABWATCH|HOSP|%s||ORU^R01^ORU_R01|%s|P|2.5.1\r' "$when" "$cid"
	printf 'PID|1||%s^^^HOSP^MR||Doe^Jane||19700101|%s\r' "$pid" "${ORU_SEX-F}"
	printf 'OBR|1|O%s|F%s|24323-8^CMP^LN|||%s\r' "$cid" "$cid" "$when"
	i=0
	for obx in "$@"; do
		i=$((i + 1))
		code=${obx%%|*}; rest=${obx#*|}
		vt=${rest%%|*}; rest=${rest#*|}
		val=${rest%%|*}; rest=${rest#*|}
		unit=${rest%%|*}; range=${rest#*|}
		printf 'OBX|%d|%s|%s^X^LN||%s|%s|%s||||%s|||%s\r' "$i" "$vt" "$code" "$val" "$unit" "$range" "${ORU_STATUS-F}" "$when"
	done
}

# nodb_conf: the lines of a labwatchd.conf for a daemon without PostgreSQL
# (unreachable on purpose: the store spools and ACKs), spooling in $TMP.
nodb_conf() {
	cat <<EOF
[labwatchd]
db = host=/nonexistent/socket dbname=none connect_timeout=1
migrate = no
protocol = $top_srcdir/rules/data/protocols/nct04933669.conf
spool_path = $TMP/spool
EOF
}

# --- a private PostgreSQL for the suite (tests/pg.sh)
# pg_suite NAME: tests/pg.sh's server, started in $PGD
# (/tmp/lw-NAME.XXXXXX, which the postgres user can reach), and q SQL,
# one value from its labwatch database. Without a PostgreSQL server the
# suite is skipped. At exit (or INT, TERM, HUP) every process of a
# $TMP/*.pid file and of $PIDS is killed (-9), the server stopped, $PGD
# and $TMP removed.
pg_suite() {
	. "$top_srcdir/tests/pg.sh"
	if ! pg_bindir >/dev/null 2>&1; then
		echo "SKIP: no PostgreSQL server installed"
		exit 77
	fi
	PGD=$(mktemp -d "/tmp/lw-$1.XXXXXX")
	chmod 755 "$PGD"
	trap pg_suite_cleanup EXIT
	trap 'exit 130' INT TERM HUP
	pg_start "$PGD" >/dev/null || { echo "cannot start PostgreSQL"; exit 1; }
}
pg_suite_cleanup() {
	# A suite's own things first (a board, a stopped backend, a copy).
	if command -v suite_cleanup >/dev/null 2>&1; then suite_cleanup; fi
	for f in "$TMP"/*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	for p in ${PIDS:-}; do kill -9 "$p" 2>/dev/null; done
	pg_stop "$PGD" >/dev/null 2>&1 || pg_kill9 "$PGD" >/dev/null 2>&1
	rm -rf "$PGD" "$TMP"
}
q() { psql -X -A -t -q -c "$1"; }
# pg_hold_lock PATIENT: the lock labwatchd's and reevaluate's writers take
# for PATIENT held by a session (application_name blocker, its psql in
# $PIDS), as a writer would hold it, until pg_let_go; back once granted.
pg_hold_lock() {
	PGAPPNAME=blocker psql -X -q -c "BEGIN" \
		-c "SELECT pg_advisory_xact_lock(15, hashtext('$1'))" \
		-c "SELECT pg_sleep(300)" >/dev/null 2>&1 &
	PIDS="${PIDS:-} $!"
	for _ in $(seq 100); do
		[ "$(q "select count(*) from pg_locks l join pg_stat_activity a using (pid)
		    where a.application_name = 'blocker' and l.locktype = 'advisory' and l.granted")" -ge 1 ] && break
		sleep 0.1
	done
}
# pg_waiting APP: yes once a session of APP waits on a lock (up to 30 s), else no
pg_waiting() {
	for _ in $(seq 300); do
		if [ "$(q "select count(*) from pg_stat_activity where application_name = '$1' and wait_event_type = 'Lock'")" -ge 1 ]; then
			echo yes
			return
		fi
		sleep 0.1
	done
	echo no
}
pg_let_go() { q "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'blocker'" >/dev/null; }

# lwd_db_conf FILE [LINES]: a labwatchd.conf in FILE for pg_suite's
# server: listening on 127.0.0.1:0 (any port), migrations applied, the
# protocol of the tree, the spool in $PGD; then LINES (one key a line),
# where a key of the lines above replaces that line.
lwd_db_conf() {
	{
		printf '%s\n' "listen = 127.0.0.1:0" \
		    "db = $LABWATCH_DB connect_timeout=2" "migrate = yes" \
		    "sql_dir = $top_srcdir/sql" \
		    "protocol = $top_srcdir/rules/data/protocols/nct04933669.conf" \
		    "spool_path = $PGD/spool" --
		printf '%s\n' "${2:-}"
	} | awk '
		$0 == "--" { extra = 1; next }
		!extra { key[++n] = $1; line[$1] = $0; next }
		$1 in line { line[$1] = $0; next }
		$0 != "" { more[++m] = $0 }
		END {
			print "[labwatchd]"
			for (i = 1; i <= n; i++) print line[key[i]]
			for (i = 1; i <= m; i++) print more[i]
		}' >"$1"
}

# mllp_acks [--pause SECONDS] FILE...: each FILE's MLLP frames to
# labwatchd ($port) on one connection, and their ACKs read back, one
# "MSA-1 MSA-2" line each, in order (tests/mllp_acks.py says how).
mllp_acks() { $PY "$top_srcdir/tests/mllp_acks.py" "$port" "$@"; }

# --- labwatchd under test (daemon_peers.sh, daemon_tls.sh and the suites
# with a database)
# lwd_start NAME CONF [ENV=VALUE...]: start $LABWATCHD -c CONF, its log in
# $TMP/NAME.log, its pid in $TMP/NAME.pid; once it is ready, $port is the
# first port it listens on and $tls_port its TLS port (empty: none). A
# daemon that does not start ends the script.
lwd_start() {
	lwd_name=$1 lwd_cf=$2
	shift 2
	env "$@" "$LABWATCHD" -c "$lwd_cf" 2>"$TMP/$lwd_name.log" &
	echo $! >"$TMP/$lwd_name.pid"
	port=
	# Up to 30 s: under ASan on a loaded 2-core machine, TLS set-up
	# alone has taken more than the 5 s this once allowed.
	# The port read after "ready" (read before it, both lines could land
	# between the two reads: no port, yet ready).
	for _ in $(seq 300); do
		grep -q "ready" "$TMP/$lwd_name.log" && break
		sleep 0.1
	done
	port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/$lwd_name.log" | head -1)
	tls_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\) (TLS).*/\1/p' "$TMP/$lwd_name.log" | head -1)
	if [ -z "$port" ]; then
		not_ok "labwatchd ($lwd_name) starts" "$(tail -5 "$TMP/$lwd_name.log")"
		done_testing
		exit 1
	fi
}
# lwd_stop NAME: SIGTERM, wait (its status), and the pid file gone, so
# that no exit trap kills a pid that another process has since taken
lwd_stop() {
	kill -TERM "$(cat "$TMP/$1.pid")" 2>/dev/null
	wait "$(cat "$TMP/$1.pid")" 2>/dev/null
	lwd_rc=$?
	rm -f "$TMP/$1.pid"
	return $lwd_rc
}
# lwd_run CONF: lwd_start once more on CONF, as run N (1, 2, ...): its log
# $TMP/dN.log is $log; lwd_end stops it.
lwd_runs=0
lwd_run() {
	lwd_runs=$((lwd_runs + 1))
	log="$TMP/d$lwd_runs.log"
	lwd_start "d$lwd_runs" "$1"
}
lwd_end() { lwd_stop "d$lwd_runs"; }
# log_lines NAME PATTERN: how many lines of NAME's log hold PATTERN (grep -E)
log_lines() { grep -cE "$2" "$TMP/$1.log"; }
# log_at_most NAME PATTERN N WHAT: no more than N lines hold PATTERN
log_at_most() {
	n=$(log_lines "$1" "$2")
	if [ "$n" -le "$3" ]; then ok "$4 ($n lines)"; else
		not_ok "$4" "$n lines match '$2', want <= $3: $(grep -E "$2" "$TMP/$1.log" | head -${SHOW:-3})"; fi
}
# log_per_kind NAME ADDR WHAT: the lines about address ADDR (a grep -E
# pattern, without the port) say each thing once: none repeats another
# once its port and numbers are left out (labwatchd writes one line a kind
# per address and minute, whatever the peer does), and there is one.
log_per_kind() {
	grep -E "$2:[0-9]+" "$TMP/$1.log" | sed -E "s/^.*$2:[0-9]+//; s/[0-9]+/N/g" |
		sort >"$TMP/kinds.out"
	n=$(wc -l <"$TMP/kinds.out")
	rep=$(uniq -d "$TMP/kinds.out" | head -${SHOW:-3})
	if [ "$n" -gt 0 ] && [ -z "$rep" ]; then ok "$3 ($n lines, $n kinds)"; else
		not_ok "$3" "$n lines; said more than once: ${rep:-none}"; fi
}

# --- certificates (the openssl command), the one PKI of the tests.
# tls_pki [rsa] [NAME:SUBJECT...]: CAs $TMP/NAME.pem (subject /CN=SUBJECT,
# the key beside it: P-256, or RSA 2048 with "rsa"), by default two:
# $TMP/ca.pem ("Test CA") and $TMP/rogueca.pem ("Rogue CA"); and the
# openssl ca configuration
# tls_cert signs with (subjects in O, OU, CN order: openssl ca writes them
# in its policy's order). What an earlier call made is kept.
tls_pki() {
	[ -f "$TMP/ca.cnf" ] || tls_ca_conf
	tls_key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
	if [ "${1-}" = rsa ]; then
		tls_key="-newkey rsa:2048"
		shift
	fi
	[ $# -gt 0 ] || set -- "ca:Test CA" "rogueca:Rogue CA"
	for tls_ca in "$@"; do
		[ -f "$TMP/${tls_ca%%:*}.pem" ] && continue
		# shellcheck disable=SC2086 # $tls_key: options
		openssl req -x509 $tls_key -nodes \
		    -keyout "$TMP/${tls_ca%%:*}.key" -subj "/CN=${tls_ca#*:}" -days 2 \
		    -out "$TMP/${tls_ca%%:*}.pem" 2>/dev/null
	done
}
tls_ca_conf() {
	mkdir -p "$TMP/ca.d"
	: >"$TMP/ca.d/index.txt"
	echo 1000 >"$TMP/ca.d/serial"
	cat >"$TMP/ca.cnf" <<EOF
[ca]
default_ca = d
[d]
dir = $TMP/ca.d
database = \$dir/index.txt
new_certs_dir = \$dir
serial = \$dir/serial
default_md = sha256
policy = p
unique_subject = no
[p]
organizationName = optional
organizationalUnitName = optional
commonName = supplied
EOF
}
# tls_cert NAME CN CA START END [rsa] [SAN]: $TMP/NAME.pem and .key,
# subject /O=Test/CN=CN (or CN itself when it begins with /), signed by
# $TMP/CA.pem, valid from START to END (YYYYMMDDHHMMSSZ); a P-256 key, or
# RSA 2048 with "rsa" (static-RSA suites need an RSA server key to be
# refused for the right reason); SAN, a subjectAltName value
# ("DNS:localhost, IP:127.0.0.1"), when given.
tls_cert() {
	case $2 in
	/*) tls_subj=$2 ;;
	*) tls_subj=/O=Test/CN=$2 ;;
	esac
	if [ "${6-}" = rsa ]; then
		openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/$1.key" \
		    -subj "$tls_subj" -out "$TMP/$1.csr" 2>/dev/null
	else
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		    -nodes -keyout "$TMP/$1.key" -subj "$tls_subj" \
		    -out "$TMP/$1.csr" 2>/dev/null
	fi
	tls_ext=
	if [ -n "${7-}" ]; then
		printf 'subjectAltName = %s\n' "$7" >"$TMP/$1.ext"
		tls_ext="-extfile $TMP/$1.ext"
	fi
	# shellcheck disable=SC2086 # $tls_ext: no option or two words
	openssl ca -batch -config "$TMP/ca.cnf" -cert "$TMP/$3.pem" \
	    -keyfile "$TMP/$3.key" -in "$TMP/$1.csr" -out "$TMP/$1.pem" \
	    -startdate "$4" -enddate "$5" -notext $tls_ext >/dev/null 2>&1
}
# tls_day: tomorrow, as tls_cert's END for a certificate valid now.
tls_day() { date -u -d tomorrow +%Y%m%d%H%M%SZ; }

# test_certs: tls_pki's CAs, a server certificate for localhost,
# subjectAltName DNS:localhost and IP:127.0.0.1 ($TMP/server.pem,
# server.key) and a client one, CN=lis01 ($TMP/client.pem, client.key),
# all with RSA keys (board_db.sh offers ca.key as a key of the wrong
# value for server.pem), valid now. (Callers still name $TMP, where it
# once took a directory.)
test_certs() {
	tls_pki rsa
	tls_cert server /CN=localhost ca 20200101000000Z "$(tls_day)" rsa \
	    "DNS:localhost, IP:127.0.0.1"
	tls_cert client /CN=lis01 ca 20200101000000Z "$(tls_day)" rsa
}

# daemon_ports LOG: wait (up to 30 s) until labwatchd's LOG names both its
# plain and its TLS port, and set port and tport (empty when it did not).
daemon_ports() {
	port= tport=
	for _ in $(seq 300); do
		port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$1" | tail -1)
		tport=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\) (TLS).*/\1/p' "$1" | tail -1)
		[ -n "$port" ] && [ -n "$tport" ] && break
		sleep 0.1
	done
}

done_testing() {
	echo "Synthesis: Tested: $((t_pass + t_fail)) | Passing: $t_pass | Failing: $t_fail | Crashing: 0"
	[ "$t_fail" -eq 0 ]
}
