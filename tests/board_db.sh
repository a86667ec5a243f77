#!/bin/sh
# labwatch board against a real private PostgreSQL fed by a running
# labwatchd over MLLP, through curl: the alerts page lists the alert
# labwatchd raised, with its history; the screening page a row per
# patient in screening with its verdict and filters by verdict; the
# patient page an SVG chart per analyte with one point per result and the
# ULN lines; the status page the counts; a patient id holding <script>
# renders as text everywhere; the security headers on every page; the
# access log holds no patient id.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/board_lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"

board_suite board daemon

lwd_db_conf "$TMP/d.conf"
lwd_start d "$TMP/d.conf"

# send PATIENT CONTROL_ID DTM OBX...: one message, its AA required
send() {
	_p=$1 _c=$2 _w=$3
	shift 3
	oru "$_p" "$_c" "$_w" "$@" >"$TMP/m.hl7"
	mllp_send --loose -f "$TMP/m.hl7" -p "$port" 127.0.0.1 >"$TMP/send.out" 2>&1
	grep -q "MSA|AA|$_c" "$TMP/send.out" || { echo "no AA for $_c"; cat "$TMP/send.out"; }
}
XSS='<script>alert(1)</script>'
"$LW" enroll P1 --phase neoadjuvant --since 2026-11-01 >/dev/null
"$LW" enroll S1 --phase screening >/dev/null
"$LW" enroll "$XSS" --phase neoadjuvant --since 2026-11-01 >/dev/null
send P1 C1 20261102090000+0000 "1742-6|NM|30|U/L|10-40"
send P1 C2 20261109090000+0000 "1742-6|NM|95|U/L|10-40"
send P1 C3 20261116090000+0000 "1742-6|NM|226|U/L|10-40"
send S1 C4 20261102090000+0000 "1742-6|NM|20|U/L|10-40" "1920-8|NM|25|U/L|10-40"
send "$XSS" C5 20261110090000+0000 "1742-6|NM|500|U/L|10-40"
check "labwatchd raised P1's alert" test "$(q "SELECT count(*) FROM labwatch.alerts a JOIN labwatch.patients p ON p.id = a.patient WHERE p.patient_id = 'P1' AND a.state = 'open'")" -ge 1

board_start board --listen 127.0.0.1:0
check "board starts and says its URL" test -n "$bport"
U="http://127.0.0.1:$bport"
get() { curl -s -o "$TMP/$1.html" -D "$TMP/$1.hdr" -w '%{http_code}' "$U$2"; }

# --- alerts
check "/ redirects to /alerts" eq "$(get root /)" 303
check "/alerts: 200" eq "$(get alerts /alerts)" 200
check "/alerts: P1's alert listed" has "$TMP/alerts.html" '>P1</a>'
aid=$(q "SELECT max(a.id) FROM labwatch.alerts a JOIN labwatch.patients p ON p.id = a.patient WHERE p.patient_id = 'P1'")
check "/alerts: a row per open alert" eq "$(grep -c '<tr data-alert-id="[0-9]*"' "$TMP/alerts.html")" "$(q "SELECT count(*) FROM labwatch.alerts WHERE state = 'open'")"
check "/alerts: the summary from the database" has "$TMP/alerts.html" "$(q "SELECT replace(replace(summary, '&', '&amp;'), '<', '&lt;') FROM labwatch.alerts WHERE id = $aid")"
check "/alerts: critical first" eq "$(grep -o '<td class="[a-z]*">\(critical\|warning\|info\)' "$TMP/alerts.html" | sed 's/.*>//' | tr '\n' ' ')" "$(q "SELECT string_agg(severity, ' ' ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, id DESC) || ' ' FROM labwatch.alerts WHERE state = 'open'")"
for h in "Content-Security-Policy: default-src 'self'" "X-Frame-Options: DENY" "Cache-Control: no-store" "Content-Type: text/html; charset=utf-8"; do
	check "/alerts header $h" has "$TMP/alerts.hdr" "$h"
done
"$LW" ack "$aid" --by dr.who --note "seen" >/dev/null
check "/alert?id: 200" eq "$(get alert "/alert?id=$aid")" 200
check "/alert?id: history has the ack by its user" has "$TMP/alert.html" '<td>acknowledge</td><td>dr.who</td><td>seen</td>'
check "/alert?id=junk: 404" eq "$(get nope '/alert?id=1%20OR%201=1')" 404
check "/alerts?state=acknowledged lists it" sh -c "curl -s '$U/alerts?state=acknowledged' | grep -q '<tr data-alert-id=\"$aid\"'"
check "unknown page: 404" eq "$(get nope /nope)" 404
check "POST: 405" eq "$(curl -s -o /dev/null -w '%{http_code}' -d x=1 "$U/alerts")" 405

# --- the XSS case: the patient id holding <script> is text everywhere
check "/alerts?state=all: 200" eq "$(get all '/alerts?state=all')" 200
check "XSS: the id escaped on /alerts" has "$TMP/all.html" '&lt;script&gt;alert(1)&lt;/script&gt;'
check "XSS: no <script> on /alerts but board.js" eq "$(grep -o '<script[^>]*>' "$TMP/all.html" | tr '\n' ' ')" '<script src="/board.js" defer> '
check "XSS: its patient page 200" eq "$(get xss '/patient?id=%3Cscript%3Ealert(1)%3C%2Fscript%3E')" 200
check "XSS: escaped in the title" has "$TMP/xss.html" '<h1>Patient &lt;script&gt;alert(1)&lt;/script&gt;</h1>'
check "XSS: no <script> on the patient page" hasnt "$TMP/xss.html" '<script'

# --- patient page: the chart
check "/patient?id=P1: 200" eq "$(get p1 '/patient?id=P1')" 200
check "patient: phase" has "$TMP/p1.html" '<td id="phase">neoadjuvant since 2026-11-01'
check "patient: an SVG chart for ALT" has "$TMP/p1.html" '<svg class="chart" data-analyte="alt"'
check "patient: one point per result" eq "$(grep -c '<circle class="point"' "$TMP/p1.html")" "$(q "SELECT count(*) FROM labwatch.observations o JOIN labwatch.patients p ON p.id = o.patient WHERE p.patient_id = 'P1' AND o.analyte IS NOT NULL AND o.canonical_value IS NOT NULL")"
check "patient: 1x, 3x and 5x ULN lines (226 U/L, ULN 40)" eq "$(grep -o 'class="uln"[^>]*>' "$TMP/p1.html" | wc -l) $(grep -o '[0-9]*x ULN</text>' "$TMP/p1.html" | tr '\n' ' ')" "3 1x ULN</text> 3x ULN</text> 5x ULN</text> "
check "patient: the grade 3 point is red" has "$TMP/p1.html" 'fill="#d22"><title>226 U/L'
check "patient: the results table" eq "$(sed -n '/<table id="results">/,/<\/table>/p' "$TMP/p1.html" | grep -c '<tr><td>')" 3
check "patient: the open alerts" has "$TMP/p1.html" '<h2>Open alerts</h2>'
check "unknown patient: 404" eq "$(get nope '/patient?id=NOPE')" 404

# --- screening
check "/screening: 200" eq "$(get scr /screening)" 200
verdict=$(q "SELECT coalesce((SELECT status FROM labwatch.eligibility e JOIN labwatch.patients p ON p.id = e.patient WHERE p.patient_id = 'S1' ORDER BY evaluated_at DESC, e.id DESC LIMIT 1), 'none')")
check "screening: S1's row with its verdict ($verdict)" sh -c "grep -q '>S1</a></td><td class=\"verdict $verdict\">$verdict<' '$TMP/scr.html'"
check "screening: only patients in screening" hasnt "$TMP/scr.html" '>P1</a>'
check "screening: a cell per criterion" test "$(grep -o '<th>' "$TMP/scr.html" | wc -l)" -ge 5
check "screening?verdict=eligible filters" sh -c "curl -s '$U/screening?verdict=$( [ "$verdict" = eligible ] && echo ineligible || echo eligible)' | grep -q '0 patients in screening'"

# --- pages of 100 (issue 17 item 6: a page reads what it shows)
# 220 more patients in screening (enrolled as labwatch enroll writes them,
# no result yet: verdict none) and 150 resolved alerts of P1.
q "INSERT INTO labwatch.patients (patient_id) SELECT 'SQ' || lpad(g::text, 3, '0') FROM generate_series(1, 220) g;
INSERT INTO labwatch.enrollments (patient, protocol, phase) SELECT id, 'NCT04933669', 'screening' FROM labwatch.patients WHERE patient_id LIKE 'SQ%';
INSERT INTO labwatch.alerts (patient, protocol, kind, severity, summary, state) SELECT p.id, 'NCT04933669', 'data_quality', CASE WHEN g % 3 = 0 THEN 'warning' ELSE 'info' END, 'paged ' || g, 'resolved' FROM labwatch.patients p, generate_series(1, 150) g WHERE p.patient_id = 'P1'"
nscr=$(q "SELECT count(*) FROM labwatch.enrollments WHERE phase = 'screening'")
# The Nth patient in screening by patient id, of every one or verdict none.
nth() { q "SELECT p.patient_id FROM labwatch.enrollments e JOIN labwatch.patients p ON p.id = e.patient WHERE e.phase = 'screening' AND ('$2' = 'all' OR NOT EXISTS (SELECT 1 FROM labwatch.eligibility x WHERE x.patient = e.patient)) ORDER BY 1 OFFSET $(($1 - 1)) LIMIT 1"; }
rows() { sed -n '/<table id="screening">/,/<\/table>/p' "$1" | grep -c '^<tr><td><a href="/patient'; }
links() { grep -o '<a href="/screening[^"]*">\(previous\|next\)</a>' "$1" | tr '\n' ' '; }
first() { sed -n 's|^<tr><td><a href="/patient?id=\([^"]*\)">.*|\1|p' "$1" | head -1; }
check "screening page 1: 100 rows" eq "$(get sp1 /screening; rows "$TMP/sp1.html")" "200100"
check "screening page 1: the count and the place" has "$TMP/sp1.html" "$nscr patients in screening; 1 to 100 shown (page 1 of 3)."
check "screening page 1: a next link after its last patient, no previous" eq "$(links "$TMP/sp1.html")" "<a href=\"/screening?after=$(nth 100 all)\">next</a> "
check "screening page 1: S1 there, by patient id" eq "$(sed -n 's|^<tr><td><a href="/patient?id=\([^"]*\)">.*|\1|p' "$TMP/sp1.html" | head -3 | tr '\n' ' ')" "S1 SQ001 SQ002 "
check "screening after the 100th: 100 rows from the 101st" eq "$(get sa2 "/screening?after=$(nth 100 all)"; rows "$TMP/sa2.html")$(first "$TMP/sa2.html")" "200100$(nth 101 all)"
check "screening after the 100th: the count and the place" has "$TMP/sa2.html" "$nscr patients in screening; 101 to 200 shown (page 2 of 3)."
check "screening after the 100th: previous is the first page, next after the 200th" eq "$(links "$TMP/sa2.html")" "<a href=\"/screening\">previous</a> <a href=\"/screening?after=$(nth 200 all)\">next</a> "
check "screening after the 200th: the other $((nscr - 200))" eq "$(get sa3 "/screening?after=$(nth 200 all)"; rows "$TMP/sa3.html")" "200$((nscr - 200))"
check "screening after the 200th: the last patient" has "$TMP/sa3.html" '>SQ220</a>'
check "screening after the 200th: previous after the 100th, no next" eq "$(links "$TMP/sa3.html")" "<a href=\"/screening?after=$(nth 100 all)\">previous</a> "
check "screening ?page=2 still: the same rows as after the 100th" eq "$(get sp2 '/screening?page=2'; rows "$TMP/sp2.html")$(first "$TMP/sp2.html")" "200100$(nth 101 all)"
check "screening ?page=2: its place" has "$TMP/sp2.html" "$nscr patients in screening; 101 to 200 shown (page 2 of 3)."
check "screening page 99: past the end, said" eq "$(get sp99 '/screening?page=99'; grep -c 'past the end' "$TMP/sp99.html")" "2001"
check "screening after the last: past the end, said" eq "$(get spz '/screening?after=SQ220'; grep -c 'past the end' "$TMP/spz.html")" "2001"
check "screening ?page=junk: page 1" eq "$(get spj '/screening?page=1%3B'; rows "$TMP/spj.html")" "200100"
check "screening ?after= a patient id to escape: 200, 100 rows" eq "$(get spe '/screening?after=%3Cscript%3E%27'; rows "$TMP/spe.html")" "200100"
check "screening verdict none, page 2: 100 rows" eq "$(get sn2 "/screening?verdict=none&after=$(nth 100 none)"; rows "$TMP/sn2.html")$(first "$TMP/sn2.html")" "200100$(nth 101 none)"
check "screening verdict none: its count" has "$TMP/sn2.html" "$((nscr - 1)) patients in screening, verdict none; 101 to 200 shown (page 2 of 3)."
check "screening verdict none: the links keep the verdict" eq "$(links "$TMP/sn2.html")" "<a href=\"/screening?verdict=none\">previous</a> <a href=\"/screening?verdict=none&amp;after=$(nth 200 none)\">next</a> "
check "screening verdict none, page 3: the other $((nscr - 201))" eq "$(get sn3 "/screening?verdict=none&after=$(nth 200 none)"; rows "$TMP/sn3.html")" "200$((nscr - 201))"
check "screening verdict none, page 3: previous after the 100th of the verdict" eq "$(links "$TMP/sn3.html")" "<a href=\"/screening?verdict=none&amp;after=$(nth 100 none)\">previous</a> "
check "screening verdict none ?page=3 still" eq "$(get sn3p '/screening?verdict=none&page=3'; rows "$TMP/sn3p.html")" "200$((nscr - 201))"
check "screening verdict: S1's verdict still its latest ($verdict)" sh -c "curl -s '$U/screening?verdict=$verdict' | grep -q '>S1</a></td><td class=\"verdict $verdict\">$verdict<'"
# Two verdicts for SQ005: the filter goes by the latest only (sql/014's index).
q "INSERT INTO labwatch.eligibility (patient, protocol, status, evaluated_at, criteria) SELECT id, 'NCT04933669', v, now() - d * interval '1 day', '[]' FROM labwatch.patients, (VALUES ('eligible', 2), ('ineligible', 1)) AS w(v, d) WHERE patient_id = 'SQ005'"
check "screening verdict ineligible: SQ005, by its latest row" has "$(get svi '/screening?verdict=ineligible' >/dev/null; echo "$TMP/svi.html")" '>SQ005</a></td><td class="verdict ineligible">ineligible<'
check "screening verdict eligible: not SQ005 (an older row)" hasnt "$(get sve '/screening?verdict=eligible' >/dev/null; echo "$TMP/sve.html")" '>SQ005</a>'
check "screening verdict none: one fewer" has "$(get snn '/screening?verdict=none' >/dev/null; echo "$TMP/snn.html")" "$((nscr - 2)) patients in screening, verdict none; 1 to 100 shown (page 1 of 3)."
nres=$(q "SELECT count(*) FROM labwatch.alerts WHERE state = 'resolved'")
check "alerts resolved page 1: 100 rows" eq "$(get ar1 '/alerts?state=resolved'; grep -c '<tr data-alert-id=' "$TMP/ar1.html")" "200100"
check "alerts resolved page 1: the count" has "$TMP/ar1.html" "$nres resolved alerts; 1 to 100 shown (page 1 of 2)"
check "alerts resolved page 2: the rest" eq "$(get ar2 '/alerts?state=resolved&page=2'; grep -c '<tr data-alert-id=' "$TMP/ar2.html")" "200$((nres - 100))"
check "alerts resolved pages: the order of the database, severe first, newest first" eq "$(cat "$TMP/ar1.html" "$TMP/ar2.html" | sed -n 's/.*<tr data-alert-id="\([0-9]*\)".*/\1/p' | tr '\n' ' ')" "$(q "SELECT string_agg(id::text, ' ' ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, id DESC) || ' ' FROM labwatch.alerts WHERE state = 'resolved'")"
check "alerts all page 1: open ones first" eq "$(get aa1 '/alerts?state=all' >/dev/null; sed -n 's/.*<tr data-alert-id="\([0-9]*\)".*/\1/p' "$TMP/aa1.html" | head -1)" "$(q "SELECT id FROM labwatch.alerts ORDER BY CASE state WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, id DESC LIMIT 1")"

# --- status
check "/status: 200" eq "$(get st /status)" 200
check "status: open alerts counted" has "$TMP/st.html" "<tr><th>Open alerts</th><td>"
check "status: schema version" has "$TMP/st.html" "<tr><th>Schema</th><td>$(q "SELECT lpad(max(version)::text, 3, '0') FROM labwatch.schema_migrations")</td>"
check "/board.css served" eq "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$U/board.css")" "200 text/css; charset=utf-8"

# --- the access log: lines, and no patient data
check "access log: one line per request" test "$(grep -c ' ms 127.0.0.1 -$' "$TMP/board.log")" -ge 15
check "access log: the POST as POST" grep -q 'POST /alerts 405' "$TMP/board.log"
check "access log: no patient id" no_patient_data 'P1|S1|script' "$TMP/board.log"

# --- PostgreSQL away: 503, and back
pg_stop "$PGD" >/dev/null
check "PostgreSQL stopped: 503" eq "$(get down /alerts)" 503
pg_start "$PGD" >/dev/null
check "PostgreSQL back: 200 again" eq "$(get up /alerts)" 200
check "PostgreSQL back: the alerts again" has "$TMP/up.html" '>P1</a>'

kill -TERM "$BOARD"
wait "$BOARD"
check "SIGTERM: the board exits 0" eq "$?" 0
BOARD=

# --- the read-only role is enough for every page
board_start board2 --db "$LABWATCH_DB options='-crole=labwatch_viewer'" --listen 127.0.0.1:0
U="http://127.0.0.1:$bport"
check "as labwatch_viewer: every page 200" eq "$(for pg in /alerts "/alert?id=$aid" /screening "/patient?id=P1" /status; do get ro "$pg"; echo; done | tr '\n' ' ')" "200 200 200 200 200 "
kill -TERM "$BOARD"
wait "$BOARD"
BOARD=
# --- users, logins, sessions, CSRF, ack from the page
USERS="$TMP/users"
printf 'secret-a\n' | "$LW" board --users "$USERS" --add-user alice --role oncall --password-stdin
printf 'secret-b\n' | "$LW" board --users "$USERS" --add-user bob --role viewer --password-stdin
check "add-user: the users file is 0600" eq "$(stat -c %a "$USERS")" 600
check "add-user: name:role:pbkdf2-sha256\$600000\$salt\$key" eq "$(sed 's/[0-9a-f]\{32,64\}/H/g' "$USERS" | tr '\n' ' ')" 'alice:oncall:pbkdf2-sha256$600000$H$H bob:viewer:pbkdf2-sha256$600000$H$H '
check "add-user: a salt per user" test "$(cut -d'$' -f3 "$USERS" | sort -u | wc -l)" -eq 2
printf 'x\n' | "$LW" board --users "$USERS" --add-user carol --role admin --password-stdin 2>"$TMP/role.err"
check "add-user: an unknown role refused" eq "$?:$(cat "$TMP/role.err")" "2:labwatch board: --role is viewer, oncall or coordinator"
chmod 644 "$USERS"
"$LW" board --users "$USERS" --listen 127.0.0.1:0 2>"$TMP/mode.err"
check "a users file readable by others is refused" eq "$?" 2
check "  and says why" grep -q 'chmod 600' "$TMP/mode.err"
chmod 600 "$USERS"
"$LW" board --listen 0.0.0.0:0 2>"$TMP/open.err"
check "without --users only the loopback" eq "$?" 2

board_start board3 --users "$USERS" --listen 127.0.0.1:0
U="http://127.0.0.1:$bport"
check "no session: /alerts goes to the login page" eq "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$U/alerts")" "303 $U/login"
check "no session: /patient goes to the login page" eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/patient?id=P1")" 303
check "the login page: a form" eq "$(get login /login)" 200
check "  with a CSRF field" grep -q 'name="csrf" value="[0-9a-f]\{64\}"' "$TMP/login.html"
# A browser fetches /favicon.ico beside the login page; without a session
# that is the login page again, and it must keep the form's token (a new
# one voided the form: no browser could log in).
curl -s -c "$TMP/jf" -o "$TMP/lf1.html" "$U/login"
curl -s -L -b "$TMP/jf" -c "$TMP/jf" -o "$TMP/lf2.html" "$U/favicon.ico"
t1=$(csrf_of "$TMP/lf1.html")
check "the login page again (the favicon's redirect) keeps the login CSRF token" eq \
	"$(csrf_of "$TMP/lf2.html") ${#t1}" "$t1 64"
check "  and the cookie the form needs" eq "$(awk '$6 == "lw_pre" { print $7 }' "$TMP/jf")" "$t1"
check "a wrong password: refused" eq "$(login alice wrong "$TMP/jw")" 403
check "  with the login page and why" grep -q 'Wrong name or password' "$TMP/l2.html"
check "an unknown user: refused" eq "$(login mallory secret-a "$TMP/jw")" 403
check "login POST without the CSRF token: 403" eq "$(curl -s -o /dev/null -w '%{http_code}' -d 'name=alice&password=secret-a' "$U/login")" 403
check "bob logs in: 303" eq "$(login bob secret-b "$TMP/jb")" 303
check "  the session cookie: 256 bits, HttpOnly, SameSite=Strict, not Secure without TLS" grep -qE '^Set-Cookie: lw_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict' "$TMP/l.hdr"
check "  not Secure over plain HTTP" sh -c "! grep 'lw_session' '$TMP/l.hdr' | grep -q Secure"
check "bob sees the alerts" eq "$(curl -s -b "$TMP/jb" -o "$TMP/b.html" -w '%{http_code}' "$U/alerts")" 200
check "  as bob (viewer)" grep -q '<span id="user">bob (viewer)</span>' "$TMP/b.html"
check "  without ack buttons" sh -c "! grep -q 'action=\"/ack\"' '$TMP/b.html'"
bcsrf=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/b.html" | head -1)
oid=$(q "SELECT min(id) FROM labwatch.alerts WHERE state = 'open'")
check "a viewer cannot ack: 403" eq "$(curl -s -b "$TMP/jb" -o /dev/null -w '%{http_code}' -d "id=$oid&csrf=$bcsrf" "$U/ack")" 403
check "  the alert still open" eq "$(q "SELECT state FROM labwatch.alerts WHERE id = $oid")" open
check "alice logs in" eq "$(login alice secret-a "$TMP/ja")" 303
curl -s -b "$TMP/ja" -o "$TMP/a.html" "$U/alerts"
check "alice (oncall) has the ack button" grep -q "action=\"/ack\" class=\"act\"><input type=\"hidden\" name=\"id\" value=\"$oid\">" "$TMP/a.html"
acsrf=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/a.html" | head -1)
check "POST /ack without the CSRF token: 403" eq "$(curl -s -b "$TMP/ja" -o /dev/null -w '%{http_code}' -d "id=$oid" "$U/ack")" 403
check "POST /ack with bob's CSRF token: 403" eq "$(curl -s -b "$TMP/ja" -o /dev/null -w '%{http_code}' -d "id=$oid&csrf=$bcsrf" "$U/ack")" 403
check "POST /ack without a session: 403" eq "$(curl -s -o /dev/null -w '%{http_code}' -d "id=$oid&csrf=$acsrf" "$U/ack")" 403
check "  nothing changed" eq "$(q "SELECT state FROM labwatch.alerts WHERE id = $oid")" open
check "alice acks: 303 to the alert" eq "$(curl -s -b "$TMP/ja" -o /dev/null -w '%{http_code} %{redirect_url}' -d "id=$oid&csrf=$acsrf" "$U/ack")" "303 $U/alert?id=$oid"
check "  recorded in PostgreSQL with her name" eq "$(q "SELECT state || ' ' || acknowledged_by FROM labwatch.alerts WHERE id = $oid")" "acknowledged alice"
check "  and in its history" eq "$(q "SELECT by FROM labwatch.alert_events WHERE alert = $oid AND event = 'acknowledge'")" alice
check "acking it again: 409" eq "$(curl -s -b "$TMP/ja" -o /dev/null -w '%{http_code}' -d "id=$oid&csrf=$acsrf" "$U/ack")" 409
check "alice resolves it" eq "$(curl -s -b "$TMP/ja" -o /dev/null -w '%{http_code}' -d "id=$oid&csrf=$acsrf" "$U/resolve")" 303
check "  resolved by alice" eq "$(q "SELECT state || ' ' || resolved_by FROM labwatch.alerts WHERE id = $oid")" "resolved alice"
check "log out: 303" eq "$(curl -s -b "$TMP/ja" -c "$TMP/ja" -o /dev/null -w '%{http_code}' -d "csrf=$acsrf" "$U/logout")" 303
check "  the old session no longer works" eq "$(curl -s -b "$TMP/ja" -o /dev/null -w '%{http_code}' "$U/alerts")" 303
check "access log: the user's name" sh -c "grep -q 'POST /ack 303 .* alice$' '$TMP/board3.log'"
check "access log: no patient data (ack)" no_patient_data 'P1|S1|secret|script' "$TMP/board3.log"
# Last: this locks 127.0.0.1 out for five minutes.
for i in 1 2 3 4 5; do login bob wrong "$TMP/jx" >/dev/null; done
check "after 5 failures, even the right password: 429" eq "$(login bob secret-b "$TMP/jx")" 429
kill -TERM "$BOARD"
wait "$BOARD"
BOARD=

# --- TLS: 1.2 and 1.3 only, cookies Secure
"$LW" board --users "$USERS" --listen 0.0.0.0:0 2>"$TMP/clear.err"
check "--users beyond the loopback without TLS: refused" eq "$?" 2
test_certs "$TMP"
"$LW" board --users "$USERS" --tls-cert "$TMP/server.pem" --tls-key "$TMP/ca.key" --listen 127.0.0.1:0 2>"$TMP/badkey.err"
check "a key that does not match the certificate: refused" eq "$?:$(grep -c 'tls_key.*mismatch' "$TMP/badkey.err")" 2:1
board_start board4 --users "$USERS" --tls-cert "$TMP/server.pem" --tls-key "$TMP/server.key" --listen 127.0.0.1:0
check "TLS: the board says https" grep -q "listening on https://127.0.0.1:$bport/" "$TMP/board4.log"
U="https://127.0.0.1:$bport"
CO="--cacert $TMP/ca.pem"
check "TLS: the login page over HTTPS" eq "$(curl -s $CO -o /dev/null -w '%{http_code}' "$U/login")" 200
check "TLS: login" eq "$(login alice secret-a "$TMP/jt")" 303
check "TLS: the session cookie is Secure" grep -qE '^Set-Cookie: lw_session=[0-9a-f]{64}; Path=/; HttpOnly; SameSite=Strict; Secure' "$TMP/l.hdr"
check "TLS: pages with the session" eq "$(curl -s $CO -b "$TMP/jt" -o /dev/null -w '%{http_code}' "$U/patient?id=P1")" 200
# shellcheck disable=SC2086
curl -sN $CO -m 3 -b "$TMP/jt" -o "$TMP/tls-ev.out" "$U/events"
check "TLS: the live stream opens over HTTPS" grep -q '^: open' "$TMP/tls-ev.out"
check "TLS: plain HTTP on the port gets no page" sh -c "! curl -s -m 5 -o /dev/null -w '%{http_code}' 'http://127.0.0.1:$bport/login' | grep -q 200"
echo | openssl s_client -connect "127.0.0.1:$bport" -tls1_2 >"$TMP/t12.out" 2>&1
check "TLS 1.2 accepted" grep -q 'Protocol *: TLSv1.2' "$TMP/t12.out"
echo | openssl s_client -connect "127.0.0.1:$bport" -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' >"$TMP/t11.out" 2>&1
check "TLS 1.1 refused: the server's protocol_version alert, no cipher" sh -c "grep -q 'alert protocol version' '$TMP/t11.out' && grep -q 'Cipher is (NONE)' '$TMP/t11.out'"
check "TLS 1.2: a cipher agreed (the check above can fail)" grep -q 'Cipher is ECDHE' "$TMP/t12.out"
kill -TERM "$BOARD"
wait "$BOARD"
BOARD=

# --- live updates: /events (Server-Sent Events) fed by LISTEN, /board.js
# alert_of PATIENT: the id of its newest alert, once labwatchd wrote it
alert_of() {
	for _ in $(seq 100); do
		_a=$(q "SELECT max(a.id) FROM labwatch.alerts a JOIN labwatch.patients p ON p.id = a.patient WHERE p.patient_id = '$1'")
		[ -n "$_a" ] && { echo "$_a"; return 0; }
		sleep 0.1
	done
	return 1
}
"$LW" board --heartbeat 10ms 2>"$TMP/hb.err"
check "--heartbeat 10ms: refused, and why" eq "$?:$(cat "$TMP/hb.err")" '2:labwatch board: --heartbeat is a duration from 50ms to 1h ("15s")'
"$LW" board --max-streams -1 2>"$TMP/ms.err"
check "--max-streams -1: refused, and why" eq "$?:$(cat "$TMP/ms.err")" '2:labwatch board: --max-streams is a number from 0 to 100000'
board_start board5 --users "$USERS" --listen 127.0.0.1:0 --heartbeat 300ms --max-streams 2
U="http://127.0.0.1:$bport"
CO=
check "events: the board listens on a session of its own" seen "$TMP/board5.log" 'live updates: listening to PostgreSQL$' 10
check "events: no session: 401, no stream" eq "$(curl -s -m 5 -o /dev/null -w '%{http_code} %{content_type}' "$U/events")" "401 text/plain; charset=utf-8"
check "alice logs in (board 5)" eq "$(login alice secret-a "$TMP/j5")" 303
S1_START=$(date +%s)
curl -sN -b "$TMP/j5" -D "$TMP/s1.hdr" -o "$TMP/s1.out" "$U/events" &
S1=$!
check "events: a logged-in user's stream opens" seen "$TMP/s1.out" '^: open' 5
check "events: 200" grep -q '^HTTP/1.1 200' "$TMP/s1.hdr"
for h in "Content-Type: text/event-stream" "Cache-Control: no-store" "Content-Security-Policy: default-src 'self'" "X-Frame-Options: DENY" "X-Accel-Buffering: no"; do
	check "events: header $h" has "$TMP/s1.hdr" "$h"
done
check "events: a heartbeat (: ping) within 2 s at --heartbeat 300ms" seen "$TMP/s1.out" '^: ping$' 2
"$LW" enroll P2 --phase neoadjuvant --since 2026-11-01 >/dev/null
# The first trigger event's time, taken as it comes (20 ms polls).
seen "$TMP/s1.out" '"event":"trigger"' 10 >"$TMP/t_seen" &
send P2 C6 20261110090000+0000 "1742-6|NM|500|U/L|10-40"
aid2=$(alert_of P2)
wait $!
t_seen=$(head -1 "$TMP/t_seen")
check "events: labwatchd's new alert $aid2 comes on the stream" seen "$TMP/s1.out" "^data: \\{\"id\":$aid2,\"event\":\"trigger\"" 5
# From the start of labwatchd's transaction (now(), before the commit
# that sends the NOTIFY) to the event in curl's output.
lat=$(q "SELECT round((($t_seen - extract(epoch FROM min(a.created_at))) * 1000)::numeric) FROM labwatch.alerts a JOIN labwatch.patients p ON p.id = a.patient WHERE p.patient_id = 'P2'")
echo "# the first event of P2's alerts was seen ${lat} ms after their transaction began"
check "events: within 1 s of the alert's transaction (${lat} ms)" test "${lat:-99999}" -lt 1000
grep -m1 "^data: {\"id\":$aid2," "$TMP/s1.out" | sed 's/^data: //' >"$TMP/ev.json"
check "events: data is JSON with the alert's id, state, severity and kind only" $PY -c "
import json, sys
d = json.load(open(sys.argv[1]))
want = {'id': $aid2, 'event': 'trigger', 'state': 'open', 'severity': '$(q "SELECT severity FROM labwatch.alerts WHERE id = $aid2")', 'kind': '$(q "SELECT kind FROM labwatch.alerts WHERE id = $aid2")'}
sys.exit(0 if d == want else 'got %r, want %r' % (d, want))" "$TMP/ev.json"
check "events: no patient on the stream" hasnt "$TMP/s1.out" P2
curl -s -b "$TMP/j5" -o "$TMP/live.html" "$U/alerts"
check "alerts page: loads /board.js" has "$TMP/live.html" '<script src="/board.js" defer></script>'
check "alerts page: the body #alerts-body, the new row tr[data-alert-id]" has "$TMP/live.html" "<tbody id=\"alerts-body\">
<tr data-alert-id=\"$aid2\""
curl -s -b "$TMP/j5" -o "$TMP/empty.html" "$U/alerts?state=retracted"
check "alerts page without alerts: the empty body is there for new rows" sh -c "grep -q '<tbody id=\"alerts-body\">' '$TMP/empty.html' && grep -q '<p id=\"none\">No retracted alerts.</p>' '$TMP/empty.html'"
check "/board.js: 200, JavaScript" eq "$(curl -s -D "$TMP/js.hdr" -o "$TMP/board.js" -w '%{http_code} %{content_type}' "$U/board.js")" "200 text/javascript; charset=utf-8"
for h in "Content-Security-Policy: default-src 'self'" "X-Frame-Options: DENY" "X-Content-Type-Options: nosniff"; do
	check "/board.js: header $h" has "$TMP/js.hdr" "$h"
done
check "/board.js: opens /events, replaces #alerts-body" sh -c "grep -qF \"new EventSource('/events')\" '$TMP/board.js' && grep -qF \"'alerts-body'\" '$TMP/board.js'"
# What board.js does with the events, in node against stubs of the page,
# EventSource and fetch (tests/board_js.js); the browser tests run it for real.
if command -v node >/dev/null 2>&1; then
	node "$top_srcdir/tests/board_js.js" "$TMP/board.js" >"$TMP/js.out" 2>&1
	check "/board.js under node: every case passed" eq "$?" 0
	while IFS= read -r l; do
		case $l in
		"ok - "*) ok "/board.js: ${l#ok - }" ;;
		"not ok - "*) not_ok "/board.js: ${l#not ok - }" ;;
		esac
	done <"$TMP/js.out"
else
	echo "# no node (Debian's nodejs): /board.js's logic not run here"
fi
curl -sN -b "$TMP/j5" -o "$TMP/s2.out" "$U/events" &
S2=$!
check "events: a second stream opens" seen "$TMP/s2.out" '^: open' 5
check "events: a third (--max-streams 2): 503" eq "$(curl -s -m 5 -b "$TMP/j5" -o /dev/null -w '%{http_code}' "$U/events")" 503
kill "$S2"
gone "$S2" 5
check "events: the stream whose peer left is dropped: another opens" sh -c "for i in \$(seq 50); do [ \"\$(curl -s -m 1 -b '$TMP/j5' -o /dev/null -w '%{http_code}' '$U/events')\" = 200 ] && exit 0; sleep 0.1; done; exit 1"
"$LW" ack "$aid2" --by dr.who >/dev/null
check "events: an ack comes as an event of the same alert" seen "$TMP/s1.out" "^data: \\{\"id\":$aid2,\"event\":\"acknowledge\",\"state\":\"acknowledged\"" 5
pg_restart "$PGD" >/dev/null
check "events: PostgreSQL restarted: the board listens again and says so" seen "$TMP/board5.log" 'live updates: listening to PostgreSQL again' 30
check "  the loss said once" eq "$(grep -c 'live updates: PostgreSQL session lost' "$TMP/board5.log")" 1
check "  a resync on the stream (the page reads its table again)" seen "$TMP/s1.out" '^event: resync' 5
"$LW" enroll P3 --phase neoadjuvant --since 2026-11-01 >/dev/null
send P3 C7 20261110090000+0000 "1742-6|NM|500|U/L|10-40"
aid3=$(alert_of P3)
check "events: after the restart, the stream delivers alert $aid3" seen "$TMP/s1.out" "^data: \\{\"id\":$aid3,\"event\":\"trigger\"" 10
# A listening session that stops answering without closing (its backend
# stopped, as behind a dead network: no EOF ever comes) is found by the
# heartbeat's probe, dropped and replaced; the streams get a resync.
LPID=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'labwatch board live'")
check "events: the listening session is named 'labwatch board live'" test -n "$LPID"
nres=$(grep -c '^event: resync' "$TMP/s1.out")
[ -n "$LPID" ] && kill -STOP "$LPID"
check "events: a session that stops answering: lost, and why" seen "$TMP/board5.log" 'PostgreSQL session lost.*no answer from PostgreSQL in 10 s' 40
check "  listening again on a new session" sh -c "for i in \$(seq 150); do [ \"\$(grep -c 'listening to PostgreSQL again' '$TMP/board5.log')\" -ge 2 ] && exit 0; sleep 0.2; done; exit 1"
[ -n "$LPID" ] && kill -CONT "$LPID"
LPID=
check "  a resync on the stream" sh -c "for i in \$(seq 50); do [ \"\$(grep -c '^event: resync' '$TMP/s1.out')\" -gt $nres ] && exit 0; sleep 0.1; done; exit 1"
"$LW" enroll P4 --phase neoadjuvant --since 2026-11-01 >/dev/null
send P4 C8 20261110090000+0000 "1742-6|NM|500|U/L|10-40"
aid4=$(alert_of P4)
check "  and alert $aid4 comes on the stream" seen "$TMP/s1.out" "^data: \\{\"id\":$aid4,\"event\":\"trigger\"" 10
# The board's HTTP timeout (30 s) must not end a quiet stream.
_left=$((S1_START + 33 - $(date +%s)))
[ "$_left" -gt 0 ] && sleep "$_left"
check "events: the stream outlives the board's 30 s timeout" sh -c "[ -z \"\$(ps -o stat= -p $S1 | grep -v Z)\" ] && exit 1; n=\$(grep -c '^: ping' '$TMP/s1.out'); sleep 1; [ \"\$(grep -c '^: ping' '$TMP/s1.out')\" -gt \"\$n\" ]"
c5=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$TMP/live.html" | head -1)
curl -s -b "$TMP/j5" -o /dev/null -d "csrf=$c5" "$U/logout"
check "events: logout ends the stream (at the next heartbeat)" gone "$S1" 5
check "bob logs in (board 5)" eq "$(login bob secret-b "$TMP/j6")" 303
curl -sN -b "$TMP/j6" -o "$TMP/s3.out" "$U/events" &
S3=$!
check "events: a viewer's stream opens" seen "$TMP/s3.out" '^: open' 5
check "access log: GET /events" sh -c "grep -q 'GET /events 200 .* alice$' '$TMP/board5.log'"
check "access log: no patient data (events)" no_patient_data 'P2|P3|P4|secret' "$TMP/board5.log"
kill -TERM "$BOARD"
wait "$BOARD"
check "SIGTERM with a stream open: the board exits 0" eq "$?" 0
check "  and the stream ends" gone "$S3" 5
BOARD=

lwd_stop d
done_testing
