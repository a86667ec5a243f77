#!/bin/sh
# labwatch board's live streams against their two ways of misuse (issue
# 17's follow-up), through curl against a private PostgreSQL:
# - one user may hold --max-user-streams streams (default 8): the 9th of
#   one session, and the first of that user's second session, get 429
#   with a body that says why, a log line and a count on /status, while
#   another user's stream still opens; --max-streams stays the board's
#   limit (503);
# - only a person's requests (a page loaded, a form sent) renew a
#   session: a page whose stream reconnects and whose script reads the
#   table loses its session after --idle-timeout, its stream is closed
#   and the next ones get 401; a person clicking keeps it.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/board_lib.sh"
LW="$top_builddir/cli/labwatch"

board_suite boards

USERS="$TMP/users"
printf 'secret-a\n' | "$LW" board --users "$USERS" --add-user alice --role oncall --password-stdin
printf 'secret-b\n' | "$LW" board --users "$USERS" --add-user bob --role viewer --password-stdin

# stream NAME JAR: a stream of JAR's session in the background, its
# output in $TMP/NAME.out, its pid in $S (and in $BG); when it ends,
# its start (epoch s) in $TMP/NAME.t0 and its length in $TMP/NAME.time
stream() {
	date +%s.%N >"$TMP/$1.t0"
	curl -sN -b "$2" -o "$TMP/$1.out" -w '%{time_total}\n' "$U/events" >"$TMP/$1.time" &
	S=$!
	BG="$BG $S"
}
# code JAR [CURL ARGS...]: the status of GET /events of JAR's session,
# its body in $TMP/code.body (a stream opened is cut after 2 s)
code() {
	_j=$1
	shift
	curl -s -m 2 -b "$_j" -o "$TMP/code.body" -w '%{http_code}' "$@" "$U/events"
}
# alive PID: the stream's curl still runs
alive() { [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }

# --- the options
"$LW" board --max-user-streams -1 2>"$TMP/mu.err"
check "--max-user-streams -1: refused, and why" eq "$?:$(cat "$TMP/mu.err")" '2:labwatch board: --max-user-streams is a number from 0 to 100000'
for v in 0 500ms 169h 5x; do
	"$LW" board --idle-timeout "$v" 2>"$TMP/it.err"
	check "--idle-timeout $v: refused, and why" eq "$?:$(cat "$TMP/it.err")" '2:labwatch board: --idle-timeout is a duration from 1s to 168h ("30m")'
done
"$LW" board --help >"$TMP/help.out"
check "--help names --max-user-streams and --idle-timeout" sh -c "grep -q -- '--max-user-streams N' '$TMP/help.out' && grep -q -- '--idle-timeout DURATION' '$TMP/help.out'"

# --- one user cannot take every stream (--max-user-streams, default 8)
board_start limit --users "$USERS" --listen 127.0.0.1:0 --heartbeat 300ms --max-streams 10
check "the board starts" test -n "$bport"
U="http://127.0.0.1:$bport"
check "events: the board listens" seen "$TMP/limit.log" 'live updates: listening to PostgreSQL$' 10
check "alice logs in" eq "$(login alice secret-a "$TMP/ja")" 303
check "bob logs in" eq "$(login bob secret-b "$TMP/jb")" 303
for i in 1 2 3 4 5 6 7 8; do
	stream "a$i" "$TMP/ja"
	[ "$i" = 1 ] && A1=$S
	seen "$TMP/a$i.out" '^: open' 5 >/dev/null || echo "alice's stream $i did not open"
done
check "alice's session opens 8 streams" eq "$(cat "$TMP"/a?.out | grep -c '^: open')" 8
check "  her 9th: 429, text" eq "$(code "$TMP/ja" -D "$TMP/a9.hdr")" 429
check "  which says why" eq "$(cat "$TMP/code.body")" "too many live streams of yours open (8, --max-user-streams): close a board page, or wait"
check "  Content-Type: text/plain" has "$TMP/a9.hdr" "Content-Type: text/plain; charset=utf-8"
check "another user's stream still opens: 200" eq "$(code "$TMP/jb")" 200
check "  and it is a stream" grep -q '^: open' "$TMP/code.body"
stream b1 "$TMP/jb"
B1=$S
check "  and stays open" seen "$TMP/b1.out" '^: ping' 5
check "alice logs in again (a second session)" eq "$(login alice secret-a "$TMP/ja2")" 303
check "  its first stream: 429 too (the limit is the user's, not the session's)" eq "$(code "$TMP/ja2")" 429
check "the log says so, with the user and no more: twice" eq "$(grep -c '^labwatch board: live updates: alice has 8 streams open (--max-user-streams): one more refused (429)$' "$TMP/limit.log")" 2
check "the access log: GET /events 429 for alice" grep -q 'GET /events 429 .* alice$' "$TMP/limit.log"
# --max-streams (the board's own limit) is still there: 8 + 1 open, one
# more for bob, then 503.
stream b2 "$TMP/jb"
seen "$TMP/b2.out" '^: open' 5 >/dev/null
check "bob's second stream opens (10 of --max-streams 10)" grep -q '^: open' "$TMP/b2.out"
check "  his third: 503 (the board full), not 429" eq "$(code "$TMP/jb")" 503
check "  which says why" eq "$(cat "$TMP/code.body")" "too many live streams open"
check "  and the log says so" grep -q '^labwatch board: live updates: 10 streams open (--max-streams): one more refused (503)$' "$TMP/limit.log"
curl -s -b "$TMP/jb" -o "$TMP/status.html" "$U/status"
check "/status: the streams open and the limits" has "$TMP/status.html" '<tr><th>Streams open</th><td>10 (at most 10, 8 per user)</td></tr>'
check "/status: 2 refused by the per-user limit" has "$TMP/status.html" '<tr><th>Refused: per-user limit (429)</th><td>2</td></tr>'
check "/status: 1 refused, the board full" has "$TMP/status.html" '<tr><th>Refused: board full (503)</th><td>1</td></tr>'
# One of alice's pages closed: she may open one again.
kill "$A1"
gone "$A1" 5
check "alice closes a page: her next stream opens" sh -c "for i in \$(seq 50); do [ \"\$(curl -s -m 1 -b '$TMP/ja' -o /dev/null -w '%{http_code}' '$U/events')\" = 200 ] && exit 0; sleep 0.1; done; exit 1"
for p in $BG; do kill "$p" 2>/dev/null; done
for p in $BG; do gone "$p" 5; done
BG=
kill -TERM "$BOARD"
wait "$BOARD"
check "SIGTERM: the board exits 0" eq "$?" 0
BOARD=

# --- the idle timeout: only a person's requests renew a session
# pester JAR KIND SECONDS: for SECONDS, every 0.3 s, one request of KIND on
# JAR's session: what a page left open does by itself (events: its stream
# reconnecting; refresh: board.js's read of the table; script: a fetch as
# a browser marks it), or what a person does (person: a page loaded; its
# statuses in $TMP/person.codes); then the time in $TMP/KIND.end
pester() {
	_end=$(($(date +%s) + $3))
	while [ "$(date +%s)" -lt "$_end" ]; do
		case $2 in
		events) curl -s -m 0.3 -b "$1" -o /dev/null "$U/events" ;;
		refresh) curl -s -b "$1" -H 'X-Labwatch-Refresh: 1' -o /dev/null "$U/alerts" ;;
		script) curl -s -b "$1" -H 'Sec-Fetch-Dest: empty' -o /dev/null "$U/alerts" ;;
		person) curl -s -b "$1" -H 'Sec-Fetch-Dest: document' -o /dev/null -w '%{http_code}\n' "$U/alerts" >>"$TMP/person.codes" ;;
		esac
		sleep 0.3
	done
	date +%s.%N >"$TMP/$2.end"
}
board_start idle --users "$USERS" --listen 127.0.0.1:0 --heartbeat 200ms --idle-timeout 3s
U="http://127.0.0.1:$bport"
check "events: the board listens (idle 3s)" seen "$TMP/idle.log" 'live updates: listening to PostgreSQL$' 10
P=
for k in events refresh script person; do
	login alice secret-a "$TMP/j-$k" >/dev/null
	date +%s.%N >"$TMP/$k.login"
	stream "s-$k" "$TMP/j-$k"
	eval "S_$k=\$S"
	seen "$TMP/s-$k.out" '^: open' 5 >/dev/null || echo "the $k session's stream did not open"
	pester "$TMP/j-$k" "$k" 12 &
	P="$P $!"
done
for p in $P; do wait "$p"; done
# Each page left to itself: its stream ends 3 s (the idle time; 2.5 s
# allowed for the time between the login and its reply) to 3 s +
# 1 s (whole seconds) + a heartbeat after its login, while the page's
# requests still go on (12 s of them); before the fix it outlived them.
for k in events refresh script; do
	eval "_s=\$S_$k"
	gone "$_s" 10
	_dt=$(awk -v l="$(cat "$TMP/$k.login")" -v t0="$(cat "$TMP/s-$k.t0")" -v n="$(cat "$TMP/s-$k.time")" 'BEGIN { printf "%.1f", t0 + n - l }')
	_pe=$(awk -v l="$(cat "$TMP/$k.login")" -v e="$(cat "$TMP/$k.end")" 'BEGIN { printf "%.1f", e - l }')
	echo "# the $k session's stream ended ${_dt} s after its login; its $k requests went on until ${_pe} s"
	check "a page whose $k requests go on: its stream ends after the idle time, while they go on (${_dt} s; ${_pe} s)" awk "BEGIN { exit !($_dt >= 2.5 && $_dt < $_pe) }"
done
check "  the log says why, with the user" test "$(grep -c '^labwatch board: live updates: a stream of alice closed: its session ended (logout or idle)$' "$TMP/idle.log")" -ge 3
check "a person loading pages (12 s) keeps the session: every page load 200" eq "$(sort -u "$TMP/person.codes" | tr '\n' ' ')" "200 "
check "  and the stream still open" alive "$S_person"
check "  which ends once nobody loads a page" gone "$S_person" 10
for k in events refresh script; do
	check "the $k session's next stream: 401" eq "$(code "$TMP/j-$k")" 401
	check "  and a page load: the login page" eq "$(curl -s -b "$TMP/j-$k" -o /dev/null -w '%{http_code} %{redirect_url}' "$U/alerts")" "303 $U/login"
done
login bob secret-b "$TMP/jb" >/dev/null
curl -s -b "$TMP/jb" -o "$TMP/status2.html" "$U/status"
check "/status: the streams closed at their session's end, as many as the log says" has "$TMP/status2.html" "<tr><th>Closed: session ended</th><td>$(grep -c 'its session ended (logout or idle)$' "$TMP/idle.log")</td></tr>"
check "the log: no password" hasnt "$TMP/idle.log" secret
BG=
kill -TERM "$BOARD"
wait "$BOARD"
check "SIGTERM: the board exits 0" eq "$?" 0
BOARD=
done_testing
