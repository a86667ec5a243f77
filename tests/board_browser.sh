#!/bin/sh
# labwatch board in a real browser: Debian's chromium, headless, driven
# through its DevTools protocol by tests/cdp.py; the scenario is
# tests/board_browser.py. Against a private PostgreSQL holding the demo's
# patients and results (scripts/demo-data, as ./scripts/demo loads them)
# and a running labwatchd: log in through the login form; acknowledge an
# alert labwatchd just raised by clicking its button, and find it
# acknowledged by that user in PostgreSQL; the screening page's verdicts;
# a patient page's charts (one SVG point per result, the ULN lines) and a
# screenshot that is not blank; a new alert on an open page through
# /events and /board.js within a second; on a second board whose
# sessions end after 3 s idle (--idle-timeout 3s), a page left open lands
# on the login page though events keep coming.
#
# BOARD_SCREENSHOTS=DIR: also write the README's screenshots into DIR
# (doc/screenshots.sh).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/board_lib.sh"
skip_if_listed browser
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
# /board.js is served since the live updates were merged: its absence is
# a failure ("no" makes it a skip, for bisecting older trees).
BOARD_SSE_REQUIRED=${BOARD_SSE_REQUIRED:-yes}

# Installed but not starting is a failure (the scenario's first line).
if ! command -v chromium >/dev/null 2>&1; then
	echo "SKIP: no chromium (Debian package chromium; ./scripts/test installs it)"
	exit 77
fi
board_suite boardb daemon
lwd_db_conf "$TMP/d.conf"
lwd_start d "$TMP/d.conf"

# The demo's data: its patients, then its results through labwatchd.
grep -v '^#' "$top_srcdir/scripts/demo-data/patients" | while read -r id phase; do
	"$LW" enroll "$id" --phase "$phase" --since 2026-11-01 >/dev/null
done
mllp_send --loose -f "$top_srcdir/scripts/demo-data/results.hl7" -p "$port" 127.0.0.1 >"$TMP/demo.out" 2>&1
check "the demo's results: an AA for each of its messages" test \
	"$(tr '\r' '\n' <"$TMP/demo.out" | grep -c '^MSA|AA|')" -eq \
	"$(tr '\r' '\n' <"$top_srcdir/scripts/demo-data/results.hl7" | grep -c '^MSH|')"
check "the demo's patients enrolled" test "$(q "SELECT count(*) FROM labwatch.patients WHERE patient_id LIKE 'DEMO-%'")" -eq 5

# The browser's own patient: its alerts come while the page is open.
"$LW" enroll BR-1 --phase neoadjuvant --since 2026-11-01 >/dev/null
"$LW" enroll BR-2 --phase neoadjuvant --since 2026-11-01 >/dev/null
oru BR-1 BR1A 20261120090000+0000 "1742-6|NM|30|U/L|10-40" >"$TMP/br1.hl7"
oru BR-1 BR1B 20261125090000+0000 "1742-6|NM|95|U/L|10-40" >>"$TMP/br1.hl7"
oru BR-1 BR1C 20261130090000+0000 "1742-6|NM|900|U/L|10-40" >>"$TMP/br1.hl7"
oru BR-2 BR2A 20261201090000+0000 "1742-6|NM|500|U/L|10-40" >"$TMP/br2.hl7"

USERS="$TMP/users"
printf 'pw-alice-1\n' | "$LW" board --users "$USERS" --add-user alice --role oncall --password-stdin
# The protocols of this tree, as ./scripts/demo gives them to its board:
# the patient page says what a restart needs from them.
(. "$top_srcdir/scripts/lib.sh" && tree_datadir "$TMP/share/labwatch" "$top_srcdir")
LABWATCH_DATADIR="$TMP/share/labwatch" board_start board --users "$USERS" --listen 127.0.0.1:0
check "the board starts" test -n "$bport"
BPORT1=$bport
BOARD1=$BOARD
# The second board: sessions end after 3 s without a person's request.
board_start board2 --users "$USERS" --listen 127.0.0.1:0 --idle-timeout 3s --heartbeat 300ms
BOARD2=$BOARD
BOARD=$BOARD1
check "the second board (--idle-timeout 3s) starts" test -n "$bport"

# The scenario prints PASS/FAIL lines; they count as this script's checks.
BOARD_URL="http://127.0.0.1:$BPORT1" BOARD_IDLE_URL="http://127.0.0.1:$bport" BOARD_USER=alice BOARD_PASSWORD=pw-alice-1 \
	MLLP_PORT=$port BOARD_SSE_REQUIRED=$BOARD_SSE_REQUIRED TMP=$TMP \
	BOARD_SCREENSHOTS=${BOARD_SCREENSHOTS:-} \
	timeout 300 $PY "$top_srcdir/tests/board_browser.py" >"$TMP/browser.out" 2>&1
rc=$?
while IFS= read -r line; do
	case $line in
	"PASS: "*) ok "${line#PASS: }" ;;
	"FAIL: "*) not_ok "${line#FAIL: }" ;;
	*) echo "$line" ;;
	esac
done <"$TMP/browser.out"
check "the scenario ran to its end (exit $rc)" test "$rc" -eq 0
check "access log: no patient id" no_patient_data 'DEMO-|BR-[12]' "$TMP/board.log" "$TMP/board2.log"

kill -TERM "$BOARD"
wait "$BOARD"
check "SIGTERM: the board exits 0" test "$?" -eq 0
BOARD=
kill -TERM "$BOARD2"
wait "$BOARD2"
check "SIGTERM: the second board exits 0" test "$?" -eq 0
BOARD2=
lwd_stop d
done_testing
