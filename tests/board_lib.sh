# tests/board_lib.sh: what the board's shell suites share (board_db.sh,
# board_streams.sh, board_login.sh, board_browser.sh), sourced after
# tests/lib.sh; $LW is the labwatch binary, $TMP the suite's directory.

# board_suite NAME [daemon]: the start of a suite that needs curl (else
# SKIP) and a private PostgreSQL (pg_suite NAME) with the tree's schema.
# With "daemon" the suite feeds a labwatchd: mllp_send (python3-hl7) is
# needed too (else SKIP) and the schema is labwatchd's (lwd_start
# migrates). At exit the processes in $BG and the boards ($BOARD,
# $BOARD2) are killed, a PostgreSQL backend the suite stopped ($LPID,
# kill -STOP) is continued, and $TMP copied to $BOARD_KEEP when set.
board_suite() {
	if ! command -v curl >/dev/null 2>&1; then
		echo "SKIP: curl missing"
		exit 77
	fi
	if [ "${2:-}" = daemon ] && ! command -v mllp_send >/dev/null 2>&1; then
		echo "SKIP: mllp_send (python3-hl7) missing"
		exit 77
	fi
	BOARD=
	BOARD2=
	BG=
	LPID=
	suite_cleanup() {
		[ -n "$LPID" ] && kill -CONT "$LPID" 2>/dev/null
		for p in $BG; do kill "$p" 2>/dev/null; done
		[ -n "$BOARD" ] && kill -9 "$BOARD" 2>/dev/null
		[ -n "$BOARD2" ] && kill -9 "$BOARD2" 2>/dev/null
		[ -n "${BOARD_KEEP:-}" ] && cp -r "$TMP" "$BOARD_KEEP"
	}
	pg_suite "$1"
	[ "${2:-}" = daemon ] && return 0
	LABWATCH_SQLDIR="$top_srcdir/sql" "$LW" migrate >"$TMP/migrate.out" 2>&1 || cat "$TMP/migrate.out"
	check "the schema is in place" test "$(q "SELECT count(*) FROM labwatch.schema_migrations")" -ge 1
}

# board_start LOG ARGS...: labwatch board ARGS in the background, its log
# in $TMP/LOG.log, its pid in $BOARD; $bport once it says its URL. The
# board gets the caller's environment (VAR=value board_start ...).
board_start() {
	_log=$1
	shift
	"$LW" board "$@" 2>"$TMP/$_log.log" &
	BOARD=$!
	bport=
	for _ in $(seq 300); do
		bport=$(sed -n 's|.*listening on https*://127.0.0.1:\([0-9]*\)/$|\1|p' "$TMP/$_log.log" | head -1)
		[ -n "$bport" ] && break
		sleep 0.1
	done
}
# csrf_of FILE: the first CSRF token of a page
csrf_of() { sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$1" | head -1; }
# login NAME PASSWORD JAR: the status of the POST (the CSRF of a fresh GET)
# to the board at $U ($CO: curl's TLS options, or nothing); the POST's
# headers in $TMP/l.hdr, its page in $TMP/l2.html
CO=
login() {
	# shellcheck disable=SC2086 # $CO: no option or two words
	curl -s $CO -c "$3" -o "$TMP/l.html" "$U/login"
	_t=$(csrf_of "$TMP/l.html")
	# shellcheck disable=SC2086
	curl -s $CO -b "$3" -c "$3" -D "$TMP/l.hdr" -o "$TMP/l2.html" -w '%{http_code}' \
		--data-urlencode "csrf=$_t" --data-urlencode "name=$1" --data-urlencode "password=$2" "$U/login"
}
# seen FILE PATTERN SECONDS: wait until a line of FILE matches PATTERN
# (grep -E); print the time then (epoch seconds), or fail
seen() {
	_n=$(($3 * 50))
	while [ "$_n" -gt 0 ]; do
		grep -qE -- "$2" "$1" 2>/dev/null && { date +%s.%N; return 0; }
		sleep 0.02
		_n=$((_n - 1))
	done
	echo "no '$2' in $1 after $3 s:"
	tail -n 5 "$1"
	return 1
}
# gone PID SECONDS: the child PID ended (and was reaped) within SECONDS
gone() {
	for _ in $(seq $(($2 * 10))); do
		case $(ps -o stat= -p "$1" 2>/dev/null) in '' | Z*)
			wait "$1" 2>/dev/null
			return 0 ;;
		esac
		sleep 0.1
	done
	return 1
}
# login_get TAG ADDR: the login page fetched from the address ADDR
# (127.0.0.x: curl --interface), its cookies in $TMP/TAG.jar, its CSRF
# token in $TMP/TAG.csrf; login_post TAG NAME PASSWORD [CURL ARGS...]:
# then the POST from there, "STATUS TIME_TOTAL" in $TMP/TAG.res, the page
# in $TMP/TAG.html, the headers in $TMP/TAG.hdr (both run in the
# background as well: each tag has its own files)
login_get() {
	# shellcheck disable=SC2086
	curl -s $CO --interface "$2" -c "$TMP/$1.jar" -o "$TMP/$1.get" "$U/login"
	csrf_of "$TMP/$1.get" >"$TMP/$1.csrf"
	echo "$2" >"$TMP/$1.addr"
}
login_post() {
	_tag=$1 _n=$2 _p=$3
	shift 3
	# shellcheck disable=SC2086
	curl -s $CO --interface "$(cat "$TMP/$_tag.addr")" -b "$TMP/$_tag.jar" -c "$TMP/$_tag.jar" \
		-D "$TMP/$_tag.hdr" -o "$TMP/$_tag.html" -w '%{http_code} %{time_total}\n' "$@" \
		--data-urlencode "csrf=$(cat "$TMP/$_tag.csrf")" --data-urlencode "name=$_n" \
		--data-urlencode "password=$_p" "$U/login" >"$TMP/$_tag.res"
}
