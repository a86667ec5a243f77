#!/bin/sh
# labwatch board's password checks off its event loop (issue 17's
# follow-up), through curl against a private PostgreSQL, each client from
# its own loopback address (127.0.0.x, curl --interface):
# - one check's time measured here (a wrong login on a quiet board);
#   while 8 wrong logins from 8 addresses are being checked, a logged-in
#   user's page loads in under half of it, and the access log answers it
#   before most of those logins; a right login among them still works;
# - a wrong password still gets 403 and "Wrong name or password." and
#   counts toward the limit of 5 failures per address, checks under way
#   included (6 sent at once: 5 checked, 1 refused with 429);
# - a client that leaves while its check runs crashes nothing and its
#   failure still counts;
# - more logins at once than 2 threads and 16 waiting: 503 with a body
#   that says why, Retry-After and a log line; no password in the log;
# - SIGTERM while logins wait: the board exits 0.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/board_lib.sh"
LW="$top_builddir/cli/labwatch"

board_suite boardl

USERS="$TMP/users"
printf 'secret-a\n' | "$LW" board --users "$USERS" --add-user alice --role oncall --password-stdin
board_start login --users "$USERS" --listen 127.0.0.1:0
check "the board starts" test -n "$bport"
U="http://127.0.0.1:$bport"
L="$TMP/login.log"
check "alice logs in" eq "$(login alice secret-a "$TMP/ja")" 303
check "  her page loads" eq "$(curl -s -b "$TMP/ja" -o /dev/null -w '%{http_code}' "$U/alerts")" 200

# --- one check's time on this machine: 3 wrong logins, one at a time
for i in 1 2 3; do
	login_get "t$i" 127.0.0.20
	login_post "t$i" alice "wrong-$i"
done
T=$(cat "$TMP"/t?.res | awk '{ print $2 }' | sort -n | sed -n 2p)
echo "# one login's check (median of 3 wrong ones, curl's time_total): $T s"
check "a wrong password: 403" eq "$(cut -d' ' -f1 "$TMP"/t?.res | sort -u)" 403
check "  with the login page and the same message" grep -q 'Wrong name or password.' "$TMP/t3.html"
check "  a check takes time (PBKDF2: over 50 ms)" awk "BEGIN { exit !($T > 0.05) }"

# --- 8 wrong logins from 8 addresses and a right one at once; meanwhile
# alice loads a page
for i in 1 2 3 4 5 6 7 8; do login_get "w$i" "127.0.0.1$i"; done
login_get ok 127.0.0.30
for i in 1 2 3 4 5 6 7 8; do
	login_post "w$i" alice "wrong-$i" &
	BG="$BG $!"
done
login_post ok alice secret-a &
BG="$BG $!"
sleep 0.2
P=$(curl -s -b "$TMP/ja" -o "$TMP/busy.html" -w '%{http_code} %{time_total}' "$U/screening")
for p in $BG; do wait "$p"; done
BG=
echo "# a page while 9 logins were checked: $P (status, s); one check: $T s"
check "a page while 8 wrong logins (8 addresses) are checked: 200" eq "${P% *}" 200
check "  in under half a check's time (${P#* } s; a check $T s)" awk "BEGIN { exit !(${P#* } < $T / 2) }"
# The access log is written as the answers go: the page's line before
# most of the logins' lines (they were still being checked).
after=$(awk '/GET \/screening 200/ { seen = 1; next } seen && /POST \/login 403 .* 127\.0\.0\.1[1-8] -$/ { n++ } END { print n + 0 }' "$L")
check "  answered before at least 4 of the 8 logins ($after)" test "$after" -ge 4
check "the 8 wrong logins: 403 each" eq "$(cat "$TMP"/w?.res | cut -d' ' -f1 | sort | uniq -c | awk '{ print $1 ":" $2 }')" "8:403"
check "  with the same message" eq "$(grep -l 'Wrong name or password.' "$TMP"/w?.html | wc -l)" 8
check "the right login among them: 303 to /alerts" eq "$(cut -d' ' -f1 "$TMP/ok.res")" 303
check "  a session cookie that works" eq "$(curl -s -b "$TMP/ok.jar" -o /dev/null -w '%{http_code}' "$U/alerts")" 200
check "  the access log names the user" grep -q 'POST /login 303 .* 127\.0\.0\.30 alice$' "$L"

# --- the rate limit: 127.0.0.20 has 3 failures; 2 more, then even the
# right password gets 429
for i in 4 5; do
	login_get "t$i" 127.0.0.20
	login_post "t$i" alice "wrong-$i"
done
check "2 more wrong logins from 127.0.0.20: 403" eq "$(cut -d' ' -f1 "$TMP/t4.res" "$TMP/t5.res" | sort -u)" 403
login_get t6 127.0.0.20
login_post t6 alice secret-a
check "after 5 failures, the right password: 429" eq "$(cut -d' ' -f1 "$TMP/t6.res")" 429
check "  and why" grep -q 'Too many failed logins: wait a few minutes.' "$TMP/t6.html"
# 6 at once from one address: the checks under way count, so only 5
# passwords are tried (before the fix of the order, all 6 would be).
for i in 1 2 3 4 5 6; do login_get "c$i" 127.0.0.40; done
for i in 1 2 3 4 5 6; do
	login_post "c$i" alice "wrong-$i" &
	BG="$BG $!"
done
for p in $BG; do wait "$p"; done
BG=
check "6 wrong logins at once from one address: 5 checked (403), 1 refused (429)" eq "$(cat "$TMP"/c?.res | cut -d' ' -f1 | sort | uniq -c | awk '{ print $1 ":" $2 }' | tr '\n' ' ')" "5:403 1:429 "
check "  the refused one says why" eq "$(grep -l 'Too many logins under way from your address: wait a moment.' "$TMP"/c?.html | wc -l)" 1

# --- clients that leave while their check runs: nothing breaks, the
# failures count
for i in 1 2 3 4 5; do
	login_get "g$i" 127.0.0.50
	login_post "g$i" alice "wrong-$i" -m 0.05
done
check "5 clients left before their answer (curl -m 0.05)" eq "$(cat "$TMP"/g?.res | cut -d' ' -f1 | sort -u)" 000
n=0
for _ in $(seq 100); do
	n=$(grep -cE 'POST /login 403 .* 127\.0\.0\.50 -$|127\.0\.0\.50 left before its password was checked \(a failure: counted\)$' "$L")
	[ "$n" -ge 5 ] && break
	sleep 0.1
done
check "  the 5 checks ended (the log: $n)" test "$n" -ge 5
login_get g6 127.0.0.50
login_post g6 alice secret-a
check "  and counted: the right password from there gets 429" eq "$(cut -d' ' -f1 "$TMP/g6.res")" 429
check "the board still serves alice" eq "$(curl -s -b "$TMP/ja" -o /dev/null -w '%{http_code}' "$U/alerts")" 200

# --- the queue full: 40 logins at once from 40 addresses (2 run, 16 wait)
for i in $(seq 40); do login_get "f$i" "127.0.1.$i"; done
for i in $(seq 40); do
	login_post "f$i" alice "wrong-$i" &
	BG="$BG $!"
done
for p in $BG; do wait "$p"; done
BG=
codes=$(cat "$TMP"/f*.res | cut -d' ' -f1 | sort | uniq -c | awk '{ print $1 ":" $2 }' | tr '\n' ' ')
echo "# 40 logins at once: $codes"
n503=$(cat "$TMP"/f*.res | grep -c '^503 ')
n403=$(cat "$TMP"/f*.res | grep -c '^403 ')
check "40 logins at once: some refused with 503 ($codes)" test "$n503" -ge 1
check "  the others checked (403): all 40 answered" eq "$((n503 + n403))" 40
check "  16 wait before one is refused: at least 16 checked" test "$n403" -ge 16
f=$(grep -l '^503 ' "$TMP"/f*.res | head -1)
f=${f%.res}
check "  a 503 says why" grep -q 'The board is busy checking other logins: try again in a few seconds.' "$f.html"
check "  with Retry-After: 5" grep -qi '^Retry-After: 5' "$f.hdr"
check "  the log says so: one line per 503" eq "$(grep -cE '^labwatch board: login: [0-2] checks under way and 16 waiting: one more refused \(503\)$' "$L")" "$n503"
check "the board still serves alice" eq "$(curl -s -b "$TMP/ja" -o /dev/null -w '%{http_code}' "$U/alerts")" 200

check "the log: no password" hasnt "$L" secret
check "  nor a wrong one" hasnt "$L" wrong-
check "  nor a sanitizer report" hasnt "$L" Sanitizer
# SIGTERM while logins wait for their check: they are dropped (the
# threads end the checks they run), the board exits 0, and under ASan
# nothing leaks or is freed twice.
for i in $(seq 10); do login_get "s$i" "127.0.2.$i"; done
for i in $(seq 10); do
	login_post "s$i" alice "wrong-$i" &
	BG="$BG $!"
done
seen "$L" 'POST /login 403 .* 127\.0\.2\.' 30 >/dev/null
kill -TERM "$BOARD"
wait "$BOARD"
check "SIGTERM while logins are checked: the board exits 0" eq "$?" 0
BOARD=
for p in $BG; do wait "$p"; done
BG=
check "  some of them were not answered (dropped)" grep -q '^000 ' "$TMP"/s*.res
check "  no sanitizer report" hasnt "$L" Sanitizer
done_testing
