#!/bin/sh
# labwatch notify against a real private PostgreSQL and a running
# labwatchd fed over MLLP (Debian's mllp_send): pages reach a --exec
# script and a webhook receiver written here (Python's http.server), once;
# ack and resolve events follow; a failing command is retried with backoff,
# then failed with its operational alert; escalation fires for an
# unacknowledged critical alert and not after an ack; notify killed with
# SIGKILL mid-deliveries, then two at once: every event delivered, none
# twice once recorded.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
PIDS=
pg_suite notify
# wait_for SECONDS SQL: until the query gives t
wait_for() {
	_n=$(($1 * 10))
	while [ "$_n" -gt 0 ]; do
		[ "$(q "$2")" = t ] && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	echo "timed out waiting for: $2"
	return 1
}

lwd_db_conf "$TMP/d.conf"
lwd_start d "$TMP/d.conf"
check "labwatchd starts and migrates" test -n "$port"

# send PATIENT CONTROL_ID ALT: one ALT result (226 U/L: grade 3 and a hold)
send() {
	oru "$1" "$2" 20261124090000+0800 "1742-6|NM|$3|U/L|10-40" >"$TMP/m.hl7"
	mllp_send --loose -f "$TMP/m.hl7" -p "$port" 127.0.0.1 >"$TMP/send.out" 2>&1
	grep -q "MSA|AA|$2" "$TMP/send.out"
}
enroll() { "$LW" enroll "$1" --phase neoadjuvant --since 2026-11-01 >/dev/null; }

# The paging command: each event in a file of its own, its environment in
# another line of env.log; PAGE_SLEEP makes it slow.
mkdir -p "$TMP/pages" "$TMP/esc" "$TMP/slow"
cat >"$TMP/page.sh" <<'EOF'
#!/bin/sh
f=$(mktemp "$1/p.XXXXXX")
cat >"$f.tmp"
[ -n "${PAGE_SLEEP:-}" ] && sleep "$PAGE_SLEEP"
mv "$f.tmp" "$f.json"
rm -f "$f"
echo "$LABWATCH_ALERT_EVENT $LABWATCH_ALERT_ID $LABWATCH_ALERT_DEDUP_KEY $LABWATCH_ALERT_SEVERITY $LABWATCH_ALERT_KIND $LABWATCH_ALERT_PATIENT" >>"$1/env.log"
EOF
chmod +x "$TMP/page.sh"

# The webhook receiver: each body answered 2xx is one line of hooks.jsonl;
# it answers what the file "status" says (200 without it) and keeps the
# bodies it refused in refused.log. With a certificate and key: https.
cat >"$TMP/hook.py" <<'EOF'
import http.server, ssl, sys
out = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            code = int(open(out + "/status").read())
        except OSError:
            code = 200
        with open(out + ("/hooks.jsonl" if code < 300 else "/refused.log"), "ab") as f:
            f.write(body.rstrip(b"\n") + b"\n")
        self.send_response(code)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
if len(sys.argv) > 2:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
open(out + "/hook.port", "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
$PY "$TMP/hook.py" "$TMP" &
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -s "$TMP/hook.port" ] && break; sleep 0.1; done
HOOK="http://127.0.0.1:$(cat "$TMP/hook.port")/hook"

# --- 1. a critical result reaches the command and the webhook, once
"$LW" notify --exec "$TMP/page.sh $TMP/pages" --target pager --timeout 5s \
	2>"$TMP/n1.log" &
N1=$!
PIDS="$PIDS $N1"
"$LW" notify --webhook "$HOOK" --min-severity critical --timeout 5s \
	2>"$TMP/n2.log" &
N2=$!
PIDS="$PIDS $N2"
check "notify registers its targets" wait_for 10 "select count(*) = 2 from labwatch.notify_targets"
# A webhook's URL is a credential: its default name is the origin and a hash
HOOKN=$(q "select name from labwatch.notify_targets where name like 'http://127.0.0.1:%'")
check "a webhook's default name hides its path" sh -c "echo '$HOOKN' | grep -Eq '^http://127\.0\.0\.1:[0-9]+#[0-9a-f]{8}\$'"
enroll NT1
check "a critical ALT result is ACKed" send NT1 NC1 226
A1=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NT1' and a.kind = 'toxicity'")
NA=$(q "select count(*) from labwatch.alerts")
check "the result raised alerts" test -n "$A1"
check "each alert has its trigger event" wait_for 5 "select count(*) = $NA from labwatch.alert_events where event = 'trigger'"
check "the command got every trigger" wait_for 10 "select count(*) = $NA from labwatch.deliveries where target = 'pager' and state = 'delivered'"
check "the webhook got every critical trigger" wait_for 10 "select count(*) = (select count(*) from labwatch.alerts where severity = 'critical') from labwatch.deliveries d where target = '$HOOKN' and state = 'delivered'"
sleep 0.5
"$LW" alerts --state all >"$TMP/alerts.json"
check "once each: command pages and webhook posts" $PY - "$TMP" "$A1" "$NA" <<'EOF'
import glob, json, sys
d, a1, na = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pages = [json.load(open(f)) for f in glob.glob(d + "/pages/*.json")]
hooks = [json.loads(l) for l in open(d + "/hooks.jsonl")]
alerts = {a["id"]: a for a in map(json.loads, open(d + "/alerts.json"))}
assert len(pages) == na, len(pages)
assert sorted(p["alert"]["id"] for p in pages) == sorted(alerts), pages
crit = sorted(i for i, a in alerts.items() if a["severity"] == "critical")
assert sorted(h["alert"]["id"] for h in hooks) == crit, hooks
for p in pages + hooks:
    assert p["event"] == "trigger" and p["attempt"] == 1, p
    assert p["dedup_key"] == "labwatch-%d" % p["alert"]["id"], p
    assert p["sent_at"].endswith("Z"), p
    assert p["alert"] == alerts[p["alert"]["id"]], (p["alert"], alerts)
EOF
check "the command's environment" grep -q "^trigger $A1 labwatch-$A1 critical toxicity NT1$" "$TMP/pages/env.log"
check "no patient data in notify's log" no_patient_data 'NT1|ALT|226' "$TMP/n1.log" "$TMP/n2.log"
check "nor the webhook's path" sh -c "! grep -q '/hook' '$TMP/n2.log'"

# --- 2. ack and resolve: recorded with who and a note, delivered once each
"$LW" ack "$A1" --by dr.house --note "seen, calling the ward" >"$TMP/ack.json"
check "ack --note exits 0" test $? -eq 0
"$LW" resolve "$A1" --by dr.house --note "imatinib held" >"$TMP/res.json"
check "resolve exits 0" json_assert "$TMP/res.json" 'L[0]["state"] == "resolved"'
"$LW" resolve "$A1" --by dr.house 2>"$TMP/res2.err"
check "resolve again: exit 1, says why" sh -c "[ $? -eq 1 ] && grep -q 'already resolved' '$TMP/res2.err'"
check "ack and resolve delivered to the command" wait_for 10 "select count(*) = 2 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'pager' and d.state = 'delivered' and e.alert = $A1 and e.event in ('acknowledge', 'resolve')"
check "and to the webhook" wait_for 10 "select count(*) = 2 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = '$HOOKN' and d.state = 'delivered' and e.alert = $A1 and e.event in ('acknowledge', 'resolve')"
sleep 0.3
check "ack and resolve pages carry who, the note, the same dedup key" $PY - "$TMP" "$A1" <<'EOF'
import glob, json, sys
d, a1 = sys.argv[1], int(sys.argv[2])
pages = [json.load(open(f)) for f in glob.glob(d + "/pages/*.json")]
hooks = [json.loads(l) for l in open(d + "/hooks.jsonl")]
for src in (pages, hooks):
    ev = sorted((p["event"], p["by"], p["note"], p["dedup_key"]) for p in src if p["alert"]["id"] == a1)
    assert ev == [("acknowledge", "dr.house", "seen, calling the ward", "labwatch-%d" % a1),
                  ("resolve", "dr.house", "imatinib held", "labwatch-%d" % a1),
                  ("trigger", None, None, "labwatch-%d" % a1)], ev
EOF
"$LW" alerts --id "$A1" >"$TMP/hist.json"
check "alerts --id: the alert and its history" json_assert "$TMP/hist.json" '
len(L) == 1 and L[0]["id"] == '"$A1"' and [(h["event"], h["by"], h["note"]) for h in L[0]["history"]] == [("trigger", None, None), ("acknowledge", "dr.house", "seen, calling the ward"), ("resolve", "dr.house", "imatinib held")] and all(h["at"].endswith("Z") for h in L[0]["history"])'
kill -TERM "$N2"
wait "$N2"
check "notify ends on SIGTERM with status 0" test $? -eq 0

# --- 2b. an episode: grade 3, then grade 4 (supersedes: the new alert
#         keeps the episode's dedup key, the old one gets no resolve), then
#         a normal value (labwatchd resolves it: by null, a note)
sendat() { # PATIENT CONTROL_ID DTM ALT
	oru "$1" "$2" "$3" "1742-6|NM|$4|U/L|10-40" >"$TMP/m.hl7"
	mllp_send --loose -f "$TMP/m.hl7" -p "$port" 127.0.0.1 >"$TMP/send.out" 2>&1
	grep -q "MSA|AA|$2" "$TMP/send.out"
}
enroll NT6
sendat NT6 NC6A 20261124090000+0800 226
sendat NT6 NC6B 20261124100000+0800 900
sendat NT6 NC6C 20261124110000+0800 30
E1=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NT6' and a.kind = 'toxicity' and a.grade = 3")
E2=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NT6' and a.kind = 'toxicity' and a.grade = 4")
check "grade 4 superseded grade 3" eq "$(q "select superseded_by from labwatch.alerts where id = $E1")" "$E2"
check "the superseded alert has no resolve event" eq "$(q "select string_agg(event, ',') from labwatch.alert_events where alert = $E1")" trigger
check "the episode's events are paged" wait_for 10 "select count(*) = 3 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'pager' and d.state = 'delivered' and e.alert in ($E1, $E2)"
sleep 0.3
check "one dedup key for the episode; labwatchd's resolve says why" $PY - "$TMP" "$E1" "$E2" <<'EOF'
import glob, json, sys
d, e1, e2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pages = [json.load(open(f)) for f in glob.glob(d + "/pages/*.json")]
ev = sorted((p["alert"]["id"], p["event"], p["dedup_key"], p["by"], (p["note"] or "")[:9]) for p in pages if p["alert"]["id"] in (e1, e2))
k = "labwatch-%d" % e1
assert ev == [(e1, "trigger", k, None, ""), (e2, "resolve", k, None, "recovered"), (e2, "trigger", k, None, "")], ev
EOF

# --- 3. a failing command: retried with backoff, then failed, and a
#        critical operational alert says paging failed
cat >"$TMP/fail.sh" <<EOF
#!/bin/sh
date +%s.%N >>"$TMP/fail.times"
exit 3
EOF
chmod +x "$TMP/fail.sh"
"$LW" notify --exec "$TMP/fail.sh" --target failing --min-severity critical \
	--kind toxicity --max-attempts 3 --retry-after 300ms --retry-max 600ms \
	--metrics-listen 127.0.0.1:0 2>"$TMP/n3.log" &
N3=$!
PIDS="$PIDS $N3"
check "the failing target registers" wait_for 10 "select count(*) = 1 from labwatch.notify_targets where name = 'failing'"
enroll NT2
check "another critical result" send NT2 NC2 226
A2=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NT2' and a.kind = 'toxicity'")
check "the delivery fails after 3 attempts" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'failing' and e.alert = $A2 and d.state = 'failed' and d.attempts = 3 and d.last_error = 'exit status 3' and d.failed_at is not null"
check "three attempts, 0.3 s then 0.6 s apart" $PY - "$TMP/fail.times" <<'EOF'
import sys
t = [float(l) for l in open(sys.argv[1])]
assert len(t) == 3, t
g = [b - a for a, b in zip(t, t[1:])]
assert 0.28 <= g[0] < 1.3 and 0.58 <= g[1] < 1.6, g
EOF
check "an operational alert says paging failed" eq "$(q "select count(*) from labwatch.alerts where kind = 'data_quality' and severity = 'critical' and details->>'operational' = 'paging_failed' and (details->>'alert')::bigint = $A2 and details->>'target' = 'failing' and summary like 'Paging failed: alert #$A2 %'")" 1
check "the operational alert is paged to the other target" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event join labwatch.alerts a on a.id = e.alert where d.target = 'pager' and d.state = 'delivered' and a.details->>'operational' = 'paging_failed'"
# Its metrics (issue 16): the attempts as the deliveries table counts them.
nscrape() { # LOG FILE: scrape the metrics URL LOG names into FILE
	curl -sf --max-time 10 "$(sed -n 's|.*metrics on \(http://[^ ]*\).*|\1|p' "$1" | head -1)" >"$2"
}
nm() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
check "notify --metrics-listen: served" nscrape "$TMP/n3.log" "$TMP/n3.prom"
check "two failed attempts retried" eq "$(nm "$TMP/n3.prom" 'labwatch_notify_deliveries_total{result="retry"}')" 2
check "the third failed for good" eq "$(nm "$TMP/n3.prom" 'labwatch_notify_deliveries_total{result="failed"}')" \
	"$(q "select count(*) from labwatch.deliveries where target = 'failing' and state = 'failed'")"
check "nothing delivered" eq "$(nm "$TMP/n3.prom" 'labwatch_notify_deliveries_total{result="delivered"}')" 0
check "a latency per attempt" eq "$(nm "$TMP/n3.prom" labwatch_notify_delivery_seconds_count)" \
	"$(q "select sum(attempts) from labwatch.deliveries where target = 'failing'")"
check "notify: other paths are 404" eq "$(curl -s -o /dev/null -w '%{http_code}' "$(sed -n 's|.*metrics on \(http://[^/]*\)/.*|\1|p' "$TMP/n3.log")/")" 404
kill -TERM "$N3"
wait "$N3"
check "notify with metrics stops cleanly" sh -c "grep -q stopped '$TMP/n3.log'"

# --- 4. escalation: a critical alert left open 2 s gets one escalate
#        event, delivered to the escalation target; an acked one does not
"$LW" notify --exec "$TMP/page.sh $TMP/esc" --target esc-main --min-severity critical \
	--kind toxicity --escalate-after 2s --escalate-exec "$TMP/page.sh $TMP/esc" \
	--escalate-target oncall-2 --metrics-listen 127.0.0.1:0 2>"$TMP/n4.log" &
N4=$!
PIDS="$PIDS $N4"
check "the escalation targets register" wait_for 10 "select count(*) = 2 from labwatch.notify_targets where name in ('esc-main', 'oncall-2')"
enroll NT3
enroll NT4
send NT3 NC3 226 && send NT4 NC4 226
A3=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NT3' and a.kind = 'toxicity'")
A4=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NT4' and a.kind = 'toxicity'")
"$LW" ack "$A4" --by dr.wilson >/dev/null
check "the unacknowledged alert escalates" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'oncall-2' and d.state = 'delivered' and e.alert = $A3 and e.event = 'escalate'"
sleep 1.5
check "once, and not the acknowledged one" eq "$(q "select string_agg(alert::text, ',') from labwatch.alert_events where event = 'escalate' and alert in ($A3, $A4)")" "$A3"
check "the main target does not get escalate events" eq "$(q "select count(*) from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'esc-main' and e.event = 'escalate'")" 0
"$LW" ack "$A3" --by dr.wilson >/dev/null
check "the ack of an escalated alert closes the escalation page" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'oncall-2' and d.state = 'delivered' and e.alert = $A3 and e.event = 'acknowledge'"
check "the escalate page" grep -q "^escalate $A3 labwatch-$A3 critical toxicity NT3$" "$TMP/esc/env.log"
# The table and the counter agree once the deliveries under way are done.
deliveries_agree() {
	for _ in $(seq 50); do
		nscrape "$TMP/n4.log" "$TMP/n4.prom"
		[ "$(nm "$TMP/n4.prom" 'labwatch_notify_deliveries_total{result="delivered"}')" = \
			"$(q "select count(*) from labwatch.deliveries where target in ('esc-main', 'oncall-2') and state = 'delivered'")" ] && return 0
		sleep 0.2
	done
	return 1
}
check "deliveries counted as the table has them" deliveries_agree
check "escalations counted as alert_events has them (1)" eq "$(nm "$TMP/n4.prom" labwatch_notify_escalations_total)" \
	"$(q "select count(*) from labwatch.alert_events where event = 'escalate'")"
check "deliveries were counted" test "$(nm "$TMP/n4.prom" 'labwatch_notify_deliveries_total{result="delivered"}')" -ge 2
kill -TERM "$N4"
wait "$N4"

# --- 5. SIGKILL mid-deliveries, then two processes at once: every event
#        delivered; a page repeated only when its delivery was not recorded
PAGE_SLEEP=0.3 "$LW" notify --exec "$TMP/page.sh $TMP/slow" --target slow \
	--min-severity critical --timeout 1s --parallel 2 2>"$TMP/n5.log" &
N5=$!
PIDS="$PIDS $N5"
check "the slow target registers" wait_for 10 "select count(*) = 1 from labwatch.notify_targets where name = 'slow'"
kill -STOP "$N5"
for i in 1 2 3 4 5 6; do
	enroll "NK$i"
	send "NK$i" "NK$i" 226
done
NSLOW=$(q "select count(*) from labwatch.alert_events e join labwatch.alerts a on a.id = e.alert where a.severity = 'critical' and e.id > (select since_event from labwatch.notify_targets where name = 'slow')")
check "twelve critical events wait" test "$NSLOW" -eq 12
kill -CONT "$N5"
check "deliveries begin" wait_for 10 "select count(*) >= 3 from labwatch.deliveries where target = 'slow' and state = 'delivered'"
# Killed while a page is being written: the command runs on (its own
# process group) and pages, but the delivery is not recorded.
for _ in $(seq 100); do ls "$TMP/slow"/*.tmp >/dev/null 2>&1 && break; sleep 0.02; done
kill -9 "$N5"
wait "$N5" 2>/dev/null
for k in a b; do
	PAGE_SLEEP=0.2 "$LW" notify --exec "$TMP/page.sh $TMP/slow" --target slow \
		--min-severity critical --timeout 1s 2>"$TMP/n5$k.log" &
	PIDS="$PIDS $!"
done
check "after the restart every event is delivered" wait_for 30 "select count(*) = $NSLOW from labwatch.deliveries where target = 'slow' and state = 'delivered'"
sleep 0.5
check "none twice once recorded; those killed mid-page (1 or 2: --parallel 2) repeated once, same dedup key" $PY - "$TMP/slow" "$NSLOW" <<'EOF'
import collections, glob, json, sys
pages = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.json")]
by = collections.defaultdict(list)
for p in pages:
    by[p["event_id"]].append(p)
assert len(by) == int(sys.argv[2]), (len(by), sys.argv[2])
twice = [v for v in by.values() if len(v) > 1]
assert 1 <= len(twice) <= 2, twice
for v in twice:
    assert len(v) == 2 and sorted(p["attempt"] for p in v) == [1, 2], v
    assert v[0]["dedup_key"] == v[1]["dedup_key"], v
EOF
check "both processes delivered" sh -c "grep -q delivered '$TMP/n5a.log' && grep -q delivered '$TMP/n5b.log'"
# --- 6. https with --ca: a 503 is retried, then the 200 is the delivery
#        (up to 100 attempts 200 ms apart: on a loaded machine the test may
#        see the second attempt late, and the default 5 can run out first);
#        without the CA the certificate is refused: failed, with its alert
mkdir -p "$TMP/tls"
tls_pki "ca:Test CA"
tls_cert hook /CN=localhost ca 20200101000000Z "$(tls_day)" rsa DNS:localhost
echo 503 >"$TMP/tls/status"
$PY "$TMP/hook.py" "$TMP/tls" "$TMP/hook.pem" "$TMP/hook.key" &
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -s "$TMP/tls/hook.port" ] && break; sleep 0.1; done
HTTPS="https://localhost:$(cat "$TMP/tls/hook.port")/hook"
"$LW" notify --webhook "$HTTPS" --ca "$TMP/ca.pem" --target https-hook \
	--min-severity critical --kind toxicity --retry-after 200ms --retry-max 200ms \
	--max-attempts 100 --timeout 2s 2>"$TMP/n6.log" &
PIDS="$PIDS $!"
"$LW" notify --webhook "$HTTPS" --target https-no-ca --min-severity critical \
	--kind toxicity --max-attempts 1 --timeout 2s 2>"$TMP/n7.log" &
PIDS="$PIDS $!"
check "the https targets register" wait_for 10 "select count(*) = 2 from labwatch.notify_targets where name like 'https-%'"
enroll NT5
check "a critical result for the https webhook" send NT5 NC5 226
A5=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NT5' and a.kind = 'toxicity'")
check "HTTP 503 is retried" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'https-hook' and e.alert = $A5 and d.attempts >= 2 and d.last_error = 'HTTP 503'"
rm -f "$TMP/tls/status"
check "then delivered over https" wait_for 30 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'https-hook' and e.alert = $A5 and d.state = 'delivered'"
check "once, by the attempt that succeeded" json_assert "$TMP/tls/hooks.jsonl" '
[l["alert"]["id"] for l in L] == ['"$A5"'] and L[0]["attempt"] >= 2 and L[0]["event"] == "trigger"
and L[0]["attempt"] == 1 + len(open("'"$TMP/tls/refused.log"'").readlines())'
check "an unknown CA is refused: failed after --max-attempts 1" wait_for 30 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'https-no-ca' and e.alert = $A5 and d.state = 'failed' and d.attempts = 1 and d.last_error like 'TLS: %'"
check "and its operational alert" eq "$(q "select count(*) from labwatch.alerts where details->>'operational' = 'paging_failed' and details->>'target' = 'https-no-ca'")" 1

# --- 7. PostgreSQL restarted under notify: it reconnects, and what was
#        committed while it was away is delivered (the catch-up)
pg_stop "$PGD" >/dev/null
pg_start "$PGD" >/dev/null
q "insert into labwatch.alerts (patient, protocol, kind, severity, summary)
   select id, 'NCT04933669', 'data_quality', 'warning', 'written while notify was away'
   from labwatch.patients where patient_id = 'NT1'" >/dev/null
A7=$(q "select max(id) from labwatch.alerts where summary = 'written while notify was away'")
check "after a PostgreSQL restart the alert is paged" wait_for 20 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'pager' and d.state = 'delivered' and e.alert = $A7"
check "notify said it lost the connection" grep -q "lost the database connection" "$TMP/n1.log"

# --- 7b. an alert whose transaction stays open across notify's scans
#         (a later one commits first) is collected once it commits
psql -X -q -c "begin" -c "insert into labwatch.alerts (patient, protocol, kind, severity, summary)
   select id, 'NCT04933669', 'data_quality', 'warning', 'slow transaction'
   from labwatch.patients where patient_id = 'NT1'" -c "select pg_sleep(2.5)" -c "commit" >/dev/null &
SLOW=$!
sleep 0.5
q "insert into labwatch.alerts (patient, protocol, kind, severity, summary)
   select id, 'NCT04933669', 'data_quality', 'warning', 'quick transaction'
   from labwatch.patients where patient_id = 'NT1'" >/dev/null
check "the later transaction's alert is paged first" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event join labwatch.alerts a on a.id = e.alert where d.target = 'pager' and d.state = 'delivered' and a.summary = 'quick transaction'"
wait "$SLOW"
check "the slow transaction's alert is paged once it commits" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event join labwatch.alerts a on a.id = e.alert where d.target = 'pager' and d.state = 'delivered' and a.summary = 'slow transaction'"

# --- 8. sd_notify: READY=1 once listening, STOPPING=1 on SIGTERM
$PY - "$TMP/sd.sock" "$TMP/sd.log" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    with open(sys.argv[2], "ab") as f:
        f.write(s.recv(4096) + b"\n")
EOF
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -S "$TMP/sd.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET="$TMP/sd.sock" "$LW" notify --exec true --target sd 2>"$TMP/n8.log" &
N8=$!
PIDS="$PIDS $N8"
for _ in $(seq 50); do grep -q "READY=1" "$TMP/sd.log" 2>/dev/null && break; sleep 0.1; done
check "sd_notify: READY=1 and WATCHDOG=1" sh -c "grep -q READY=1 '$TMP/sd.log' && grep -q WATCHDOG=1 '$TMP/sd.log'"
kill -TERM "$N8"
wait "$N8"
check "sd_notify: STOPPING=1 on SIGTERM" grep -q "STOPPING=1" "$TMP/sd.log"

# --- 9. order, escalation per target, episodes, crash loops, 1xx.
#        The alerts are written directly (patient NT1, protocol NCT9).
NT1=$(q "select id from labwatch.patients where patient_id = 'NT1'")
alert() { # SEVERITY GRADE [SUPERSEDES]: the new alert's id
	if [ -n "${3:-}" ]; then
		q "with a as (insert into labwatch.alerts (patient, protocol, kind, severity, grade, summary)
		   values ($NT1, 'NCT9', 'toxicity', '$1', $2, 'g$2') returning id),
		   u as (update labwatch.alerts set state = 'resolved', resolved_at = now(),
		   superseded_by = (select id from a) where id = $3) select id from a"
	else
		q "insert into labwatch.alerts (patient, protocol, kind, severity, grade, summary)
		   values ($NT1, 'NCT9', 'toxicity', '$1', $2, 'g$2') returning id"
	fi
}
# 9a. the trigger fails once and waits out its backoff: the ack of its
#     alert waits for it (one episode's events go out in order)
mkdir -p "$TMP/ord"
cat >"$TMP/ord.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
if [ "$LABWATCH_ALERT_EVENT" = trigger ] && [ ! -e "$1/once" ]; then
	touch "$1/once"
	exit 1
fi
echo "$LABWATCH_ALERT_EVENT $LABWATCH_ALERT_ID" >>"$1/log"
EOF
chmod +x "$TMP/ord.sh"
"$LW" notify --exec "$TMP/ord.sh $TMP/ord" --target ordered --protocol NCT9 \
	--retry-after 1s --timeout 5s 2>"$TMP/n9a.log" &
PIDS="$PIDS $!"
# 9b-d. two processes with escalation targets of their own and their own
#       deadlines
"$LW" notify --exec true --target esc-a --protocol NCT9 --escalate-after 1s \
	--escalate-exec "$TMP/page.sh $TMP/escA" --escalate-target oncall-a \
	2>"$TMP/n9b.log" &
PIDS="$PIDS $!"
"$LW" notify --exec true --target esc-b --protocol NCT9 --escalate-after 1h \
	--escalate-exec "$TMP/page.sh $TMP/escB" --escalate-target oncall-b \
	2>"$TMP/n9c.log" &
PIDS="$PIDS $!"
mkdir -p "$TMP/escA" "$TMP/escB"
check "the targets of 9 register" wait_for 10 "select count(*) = 5 from labwatch.notify_targets where name in ('ordered', 'esc-a', 'esc-b', 'oncall-a', 'oncall-b')"
O1=$(alert warning 2)
check "the failed trigger is retried" wait_for 5 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'ordered' and e.alert = $O1 and d.attempts = 1 and d.state = 'pending'"
"$LW" ack "$O1" --by dr.x >/dev/null
G3=$(alert critical 3)
# 9d. an ack whose transaction is open across the deadline
G5=$(alert critical 3)
psql -X -q -c "begin" -c "update labwatch.alerts set state = 'acknowledged', acknowledged_by = 'dr.slow', acknowledged_at = now() where id = $G5" \
	-c "select pg_sleep(2.5)" -c "commit" >/dev/null &
SLOW=$!
check "the ack is paged after its trigger" wait_for 10 "select count(*) = 2 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'ordered' and e.alert = $O1 and d.state = 'delivered'"
check "in that order" eq "$(grep " $O1\$" "$TMP/ord/log" | tr '\n' ' ')" "trigger $O1 acknowledge $O1 "
check "the 1 s deadline escalates to its own target" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'oncall-a' and e.alert = $G3 and e.event = 'escalate' and d.state = 'delivered'"
# 9c. grade 4 supersedes the escalated grade 3: its ack and resolve
#     close the escalation page
G4=$(alert critical 4 "$G3")
"$LW" ack "$G4" --by dr.y >/dev/null
"$LW" resolve "$G4" --by dr.y >/dev/null
wait "$SLOW"
check "the superseding alert's ack and resolve reach the escalation target" wait_for 10 "select count(*) = 2 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'oncall-a' and e.alert = $G4 and e.event in ('acknowledge', 'resolve') and d.state = 'delivered'"
sleep 1
check "the 1 h target is not paged" eq "$(q "select count(*) from labwatch.deliveries where target = 'oncall-b'")" 0
check "an alert acknowledged before its deadline does not escalate, or its page is closed" eq "$(q "select count(*) from labwatch.alert_events e where e.alert = $G5 and e.event = 'escalate' and not exists (select 1 from labwatch.deliveries d join labwatch.alert_events x on x.id = d.event where x.alert = $G5 and x.event = 'acknowledge' and d.target = 'oncall-a')")" 0
# 9e. a delivery whose claimer died at the last attempt: failed, with its
#     operational alert, and not run again
q "select labwatch.notify_register('crashy')" >/dev/null
C1=$(alert warning 2)
q "insert into labwatch.deliveries (event, target, state, attempts, lease_until, claimed_by)
   select id, 'crashy', 'delivering', 2, now() - interval '1 s', 'gone:1'
   from labwatch.alert_events where alert = $C1 and event = 'trigger'"
"$LW" notify --exec "touch $TMP/crashy.ran" --target crashy --protocol NCT9 --kind toxicity \
	--max-attempts 2 2>"$TMP/n9e.log" &
PIDS="$PIDS $!"
check "an expired lease at --max-attempts is failed" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'crashy' and e.alert = $C1 and d.state = 'failed'"
check "with its operational alert, and the command not run again" sh -c "[ \"\$(psql -X -A -t -q -c \"select count(*) from labwatch.alerts where details->>'operational' = 'paging_failed' and details->>'target' = 'crashy'\")\" = 1 ] && [ ! -e '$TMP/crashy.ran' ]"
check "a --timeout over half the watchdog interval is refused" sh -c "WATCHDOG_USEC=20000000 timeout 5 '$LW' notify --exec true --timeout 30s 2>'$TMP/wd.err'; [ \$? -eq 2 ] && grep -q WatchdogSec '$TMP/wd.err'"
# 9f. an interim 103 before the 200: one delivery
$PY - "$TMP/hint" <<'EOF' &
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(5)
open(sys.argv[1] + ".port", "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept(); data = b""
    while b"\r\n\r\n" not in data:
        data += c.recv(4096)
    open(sys.argv[1] + ".hits", "a").write("hit\n")
    c.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    c.close()
EOF
PIDS="$PIDS $!"
for _ in $(seq 50); do [ -s "$TMP/hint.port" ] && break; sleep 0.1; done
"$LW" notify --webhook "http://127.0.0.1:$(cat "$TMP/hint.port")/h" --target hints \
	--protocol NCT9 --max-attempts 1 2>"$TMP/n9f.log" &
PIDS="$PIDS $!"
check "the hints target registers" wait_for 10 "select count(*) = 1 from labwatch.notify_targets where name = 'hints'"
H1=$(alert warning 2)
check "103 then 200 is one delivery" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'hints' and e.alert = $H1 and d.state <> 'pending' and d.state <> 'delivering'"
check "delivered, at the first attempt" eq "$(q "select d.state || ' ' || d.attempts from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'hints' and e.alert = $H1")" "delivered 1"

# 9g. SIGTERM with a backlog: the deliveries under way (--parallel 2) are
#     finished, not the rest
q "select labwatch.notify_register('backlog')" >/dev/null
for i in 1 2 3 4 5; do alert warning 2 >/dev/null; done
mkdir -p "$TMP/backlog"
PAGE_SLEEP=0.5 "$LW" notify --exec "$TMP/page.sh $TMP/backlog" --target backlog \
	--protocol NCT9 --kind toxicity --parallel 2 2>"$TMP/n9g.log" &
N9=$!
PIDS="$PIDS $N9"
check "the backlog's deliveries begin, two at once" wait_for 10 "select count(*) = 2 from labwatch.deliveries where target = 'backlog' and state = 'delivering'"
kill -TERM "$N9"
wait "$N9"
check "SIGTERM: only the deliveries under way were finished" eq "$(q "select string_agg(state, ',' order by state) from labwatch.deliveries where target = 'backlog'")" "delivered,delivered,pending,pending,pending"

# --- 10. a hold's page is closed: a resume resolves the hold (its own
#         event, before the resume's trigger, by labwatch, naming the
#         resume), and the resume has its own dedup key; a hold whose
#         result is deleted is retracted: its page is closed too.
mkdir -p "$TMP/holds"
cat >"$TMP/hold.sh" <<'EOF'
#!/bin/sh
f=$(mktemp "$1/p.XXXXXX")
cat >"$f.json"
rm -f "$f"
echo "$LABWATCH_ALERT_EVENT $LABWATCH_ALERT_ID $LABWATCH_ALERT_DEDUP_KEY" >>"$1/log"
EOF
chmod +x "$TMP/hold.sh"
"$LW" notify --exec "$TMP/hold.sh $TMP/holds" --target holds --kind hold,resume \
	--parallel 4 2>"$TMP/n10.log" &
PIDS="$PIDS $!"
check "the holds target registers" wait_for 10 "select count(*) = 1 from labwatch.notify_targets where name = 'holds'"
sendm() { # PATIENT CONTROL_ID DTM OBX...: one ORU^R01, ACKed
	_c=$2
	oru "$@" >"$TMP/m.hl7"
	mllp_send --loose -f "$TMP/m.hl7" -p "$port" 127.0.0.1 >"$TMP/send.out" 2>&1
	grep -q "MSA|AA|$_c" "$TMP/send.out"
}
enroll NH1
enroll NH2
# ALT 6 x ULN, then ALT, AST and bilirubin back: back to back
sendm NH1 NH1A 20261120073000+0800 "1742-6|NM|240|U/L|10-40" &&
	sendm NH1 NH1B 20261121073000+0800 "1742-6|NM|30|U/L|10-40" "1920-8|NM|30|U/L|10-40" "1975-2|NM|10|umol/L|3-21"
check "a hold and its restart are ACKed" test $? -eq 0
HH=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NH1' and a.kind = 'hold'")
HR=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NH1' and a.kind = 'resume'")
check "a hold and a resume" sh -c "[ -n '$HH' ] && [ -n '$HR' ]"
check "the hold: resolved by labwatch, naming the resume, linked to it" eq "$(q "select state || '|' || resolved_by || '|' || resolve_note || '|' || superseded_by from labwatch.alerts where id = $HH")" "resolved|labwatch|restart allowed: alert $HR|$HR"
check "the hold's events: trigger, resolve" eq "$(q "select string_agg(event, ',' order by id) from labwatch.alert_events where alert = $HH")" "trigger,resolve"
check "its resolve was written before the resume's trigger" eq "$(q "select (select id from labwatch.alert_events where alert = $HH and event = 'resolve') < (select id from labwatch.alert_events where alert = $HR and event = 'trigger')")" t
check "the three events are paged" wait_for 10 "select count(*) = 3 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'holds' and d.state = 'delivered' and e.alert in ($HH, $HR)"
sleep 0.3
check "trigger(hold), resolve(hold), trigger(resume): in that order, once each" eq "$(grep -E " ($HH|$HR) " "$TMP/holds/log" | tr '\n' ' ')" "trigger $HH labwatch-$HH resolve $HH labwatch-$HH trigger $HR labwatch-$HR "
check "the hold's resolve page says who and why" $PY - "$TMP/holds" "$HH" "$HR" <<'EOF'
import glob, json, sys
d, hh, hr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pages = [json.load(open(f)) for f in glob.glob(d + "/*.json")]
res = [p for p in pages if p["alert"]["id"] == hh and p["event"] == "resolve"]
assert len(res) == 1, res
assert res[0]["by"] == "labwatch" and res[0]["note"] == "restart allowed: alert %d" % hr, res
assert res[0]["dedup_key"] == "labwatch-%d" % hh and res[0]["alert"]["state"] == "resolved", res
EOF
# The result the hold rested on deleted (OBX-11 D): the hold retracted.
sendm NH2 NH2A 20261120073000+0800 "1742-6|NM|240|U/L|10-40"
check "another hold is ACKed" test $? -eq 0
(ORU_STATUS=D && oru NH2 NH2A 20261120073000+0800 "1742-6|NM|240|U/L|10-40") | sed 's/|NH2A|P|2.5.1/|NH2AD|P|2.5.1/' >"$TMP/m.hl7"
mllp_send --loose -f "$TMP/m.hl7" -p "$port" 127.0.0.1 >"$TMP/send.out" 2>&1
check "its result deleted: ACKed" grep -q "MSA|AA|NH2AD" "$TMP/send.out"
HW=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NH2' and a.kind = 'hold' and a.severity = 'critical'")
check "the hold is retracted" eq "$(q "select state from labwatch.alerts where id = $HW")" retracted
check "its page is closed: trigger, then resolve" wait_for 10 "select count(*) = 2 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'holds' and d.state = 'delivered' and e.alert = $HW"
sleep 0.3
check "in that order, once each, one dedup key" eq "$(grep " $HW " "$TMP/holds/log" | tr '\n' ' ')" "trigger $HW labwatch-$HW resolve $HW labwatch-$HW "

# --- 10b. a reopened alert is paged again (sql/019). The lab deletes the
#          result that ended an episode and allowed a restart: the
#          toxicity alert is open again, with a 'reopen' event (by
#          labwatch, a note) delivered after its resolve under the same
#          dedup key (the hold is not reopened: labwatchd holds again with
#          a new hold alert, and retracts the resume).
#          Before, nothing was written: the paging service had closed
#          the incident and nobody was paged. An alert acknowledged
#          before it ended comes back acknowledged: a 'reopen', not an
#          'acknowledge' nobody made (what 008's trigger wrote).
ok3() { # PATIENT CONTROL_ID: ALT, AST and bilirubin back to normal
	sendm "$1" "$2" 20261121073000+0800 "1742-6|NM|30|U/L|10-40" "1920-8|NM|30|U/L|10-40" "1975-2|NM|10|umol/L|3-21"
}
delm() { # PATIENT CONTROL_ID DTM OBX...: sendm's results deleted (OBX-11 D), ACKed
	_c=$2
	(ORU_STATUS=D && oru "$@") | sed "s/|$_c|P|2.5.1/|${_c}D|P|2.5.1/" >"$TMP/m.hl7"
	mllp_send --loose -f "$TMP/m.hl7" -p "$port" 127.0.0.1 >"$TMP/send.out" 2>&1
	grep -q "MSA|AA|${_c}D" "$TMP/send.out"
}
del3() { # PATIENT CONTROL_ID: ok3's results deleted
	delm "$1" "$2" 20261121073000+0800 "1742-6|NM|30|U/L|10-40" "1920-8|NM|30|U/L|10-40" "1975-2|NM|10|umol/L|3-21"
}
aid() { q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$1' and a.kind = '$2' and a.severity = 'critical'"; }
events() { q "select string_agg(event || ':' || coalesce(\"by\", '-') || ':' || coalesce(note, '-'), ' ' order by id) from labwatch.alert_events where alert = $1"; }
enroll NR1
enroll NR2
sendm NR1 NR1A 20261120073000+0800 "1742-6|NM|240|U/L|10-40" && ok3 NR1 NR1B
check "NR1: an episode, ended, and a restart allowed: ACKed" test $? -eq 0
RT=$(aid NR1 toxicity) RH=$(aid NR1 hold)
RR=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NR1' and a.kind = 'resume'")
check "NR1: the toxicity alert and the hold resolved, a resume" eq "$(q "select state from labwatch.alerts where id = $RT"),$(q "select state from labwatch.alerts where id = $RH"),$(q "select state from labwatch.alerts where id = $RR")" "resolved,resolved,open"
check "NR1: the results that ended them deleted: ACKed" del3 NR1 NR1B
RH2=$(q "select max(a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NR1' and a.kind = 'hold' and a.state = 'open'")
check "NR1: the toxicity alert open again; held again (a new hold), the resume retracted" eq "$(q "select state from labwatch.alerts where id = $RT"),$(q "select state from labwatch.alerts where id = $RR"),$(q "select state from labwatch.alerts where id = $RH"),$(q "select $RH2 > $RR")" "open,retracted,resolved,t"
check "NR1: the toxicity alert's events end in a reopen by labwatch, saying why" eq "$(events "$RT")" "trigger:-:- resolve:-:recovered: a later result is below the alert grade reopen:-:reopened: the result that ended it was withdrawn"
check "NR1: the reopen is paged" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'pager' and d.state = 'delivered' and e.event = 'reopen' and e.alert = $RT"
check "NR1: the holds target pages the resume's resolve and the new hold" wait_for 10 "select count(*) = 5 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'holds' and d.state = 'delivered' and e.alert in ($RH, $RR, $RH2)"
sleep 0.3
check "NR1: the pager got trigger, resolve, reopen of the toxicity alert, in order, one dedup key" eq "$(grep " $RT " "$TMP/pages/env.log" | tr '\n' ' ')" "trigger $RT labwatch-$RT critical toxicity NR1 resolve $RT labwatch-$RT critical toxicity NR1 reopen $RT labwatch-$RT critical toxicity NR1 "
check "NR1: the reopen page carries the alert open again, by null, the note" $PY - "$TMP/pages" "$RT" <<'EOF'
import glob, json, sys
d, rt = sys.argv[1], int(sys.argv[2])
pages = [json.load(open(f)) for f in glob.glob(d + "/*.json")]
r = [p for p in pages if p["alert"]["id"] == rt and p["event"] == "reopen"]
assert len(r) == 1, r
assert r[0]["by"] is None and r[0]["note"] == "reopened: the result that ended it was withdrawn", r
assert r[0]["dedup_key"] == "labwatch-%d" % rt and r[0]["alert"]["state"] == "open", r
EOF
sendm NR2 NR2A 20261120073000+0800 "1742-6|NM|240|U/L|10-40"
RT2=$(aid NR2 toxicity)
"$LW" ack "$RT2" --by dr.cuddy --note "held" >/dev/null && ok3 NR2 NR2B && del3 NR2 NR2B
check "NR2: acknowledged, ended, its result deleted: ACKed" test $? -eq 0
check "NR2: acknowledged again, with one acknowledge event and a reopen" eq "$(q "select state from labwatch.alerts where id = $RT2") $(q "select string_agg(event, ',' order by id) from labwatch.alert_events where alert = $RT2")" "acknowledged trigger,acknowledge,resolve,reopen"

# NR4: the higher grade that superseded an alert deleted: it is open
# again, its reopen saying so. NR5: ALT 250, 900, 900, the first 900
# deleted: the grade-3 alert is reopened and escalated again by the second
# 900 in one transaction: no reopen event (it is not open at commit), the
# new grade-4 alert's trigger pages.
enroll NR4
enroll NR5
sendm NR4 NR4A 20261120073000+0800 "1742-6|NM|240|U/L|10-40" &&
	sendm NR4 NR4B 20261121073000+0800 "1742-6|NM|900|U/L|10-40" &&
	delm NR4 NR4B 20261121073000+0800 "1742-6|NM|900|U/L|10-40" &&
	sendm NR5 NR5A 20261120073000+0800 "1742-6|NM|250|U/L|10-40" &&
	sendm NR5 NR5B 20261121073000+0800 "1742-6|NM|900|U/L|10-40" &&
	sendm NR5 NR5C 20261122073000+0800 "1742-6|NM|900|U/L|10-40" &&
	delm NR5 NR5B 20261121073000+0800 "1742-6|NM|900|U/L|10-40"
check "NR4, NR5: ACKed" test $? -eq 0
RT4=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NR4' and a.kind = 'toxicity' and a.grade = 3")
check "NR4: the grade 3 open again; its reopen names the withdrawn higher grade" eq "$(q "select state from labwatch.alerts where id = $RT4") $(events "$RT4")" "open trigger:-:- reopen:-:reopened: the higher grade that superseded it was withdrawn"
RT5=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NR5' and a.kind = 'toxicity' and a.grade = 3")
check "NR5: the grade 3 superseded again by a new grade 4, open; no reopen" eq "$(q "select string_agg(a.grade || ':' || a.state, ',' order by a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'NR5' and a.kind = 'toxicity'") $(events "$RT5")" "3:resolved,4:retracted,4:open trigger:-:-"

# NR3: an alert a person resolved is not reopened (nor paged again) when
# the result of the grade that escalated it is deleted: their decision on
# the results that stand stands (as in labwatch reevaluate). Before, it
# was opened again with the person's resolved_by and note still on it.
enroll NR3
sendm NR3 NR3A 20261120073000+0800 "1742-6|NM|250|U/L|10-40"
RT3=$(aid NR3 toxicity)
"$LW" resolve "$RT3" --by dr.cuddy --note "imatinib held" >/dev/null &&
	sendm NR3 NR3B 20261121073000+0800 "1742-6|NM|900|U/L|10-40"
check "NR3: resolved by a person, then a grade 4: ACKed" test $? -eq 0
# The grade 4's trigger paged before its result is deleted (a trigger's
# key is worked out when it is delivered).
RB3=$(q "select id from labwatch.alerts where kind = 'toxicity' and grade = 4 and patient = (select patient from labwatch.alerts where id = $RT3)")
check "NR3: the grade 4 paged" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'pager' and d.state = 'delivered' and e.alert = $RB3"
check "NR3: the escalation deleted: ACKed" delm NR3 NR3B 20261121073000+0800 "1742-6|NM|900|U/L|10-40"
check "NR3: the grade-4 alert retracted" eq "$(q "select string_agg(a.grade || ':' || a.state, ',' order by a.id) from labwatch.alerts a where a.patient = (select patient from labwatch.alerts where id = $RT3) and a.kind = 'toxicity'")" "3:resolved,4:retracted"
check "NR3: the time they resolved it kept (the grade 4 did not move it)" eq "$(q "select resolved_at = (select at from labwatch.alert_events where alert = $RT3 and event = 'resolve') from labwatch.alerts where id = $RT3")" t
check "NR3: the grade 4's trigger and resolve paged" wait_for 10 "select count(*) = 2 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'pager' and d.state = 'delivered' and e.alert = $RB3"
sleep 0.3
check "NR3: under the episode's key, so its resolve closes the incident" eq "$(grep " $RB3 " "$TMP/pages/env.log" | cut -d' ' -f1,3 | tr '\n' ' ')" "trigger labwatch-$RT3 resolve labwatch-$RT3 "
check "NR3: the person's resolution stands, with no reopen" eq "$(q "select coalesce(resolved_by, '-') || '|' || coalesce(resolve_note, '-') from labwatch.alerts where id = $RT3") $(q "select string_agg(event, ',' order by id) from labwatch.alert_events where alert = $RT3")" "dr.cuddy|imatinib held trigger,resolve"

# A reopened alert's escalation deadline runs from its reopening, not from
# its creation (the alerts written directly, protocol NCTR): resolved at
# once, reopened 2.5 s later, escalated 2 s after that; the escalation
# target then gets that alert's later resolve and reopen, not the ones
# before its escalate event, and no second escalation.
mkdir -p "$TMP/reo"
"$LW" notify --exec true --target reo-main --protocol NCTR --escalate-after 2s \
	--escalate-exec "$TMP/page.sh $TMP/reo" --escalate-target reo-oncall \
	2>"$TMP/n10b.log" &
PIDS="$PIDS $!"
check "the reopen escalation targets register" wait_for 10 "select count(*) = 2 from labwatch.notify_targets where name in ('reo-main', 'reo-oncall')"
RX=$(q "insert into labwatch.alerts (patient, protocol, kind, severity, grade, summary) values ($NT1, 'NCTR', 'toxicity', 'critical', 3, 'g3') returning id")
q "update labwatch.alerts set state = 'resolved', resolved_at = now() where id = $RX" >/dev/null
sleep 2.5
q "update labwatch.alerts set state = 'open', resolved_at = null where id = $RX" >/dev/null
check "the reopened alert escalates" wait_for 10 "select count(*) = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'reo-oncall' and d.state = 'delivered' and e.alert = $RX and e.event = 'escalate'"
check "2 s after its reopening, not at once" eq "$(q "select (select at from labwatch.alert_events where alert = $RX and event = 'escalate') - (select at from labwatch.alert_events where alert = $RX and event = 'reopen') >= interval '2 s'")" t
q "update labwatch.alerts set state = 'resolved', resolved_at = now() where id = $RX" >/dev/null
q "update labwatch.alerts set state = 'open', resolved_at = null where id = $RX" >/dev/null
check "the escalation target gets the resolve and reopen after its escalate" wait_for 10 "select count(*) = 3 and count(*) filter (where e.event = 'reopen') = 1 from labwatch.deliveries d join labwatch.alert_events e on e.id = d.event where d.target = 'reo-oncall' and d.state = 'delivered' and e.alert = $RX"
sleep 2.5
check "and those alone, in order; escalated once" eq "$(grep " $RX " "$TMP/reo/env.log" | cut -d' ' -f1 | tr '\n' ' ')" "escalate resolve reopen "
# Written at commit, when the alert is still open then: reopened and
# superseded in one transaction (as the writer escalates a reopened alert)
# it has none; the session's labwatch.reopen_note (labwatch reevaluate
# sets it) says why.
RY=$(q "insert into labwatch.alerts (patient, protocol, kind, severity, grade, summary) values ($NT1, 'NCTH', 'toxicity', 'critical', 3, 'g3') returning id")
q "update labwatch.alerts set state = 'resolved', resolved_at = now() where id = $RY" >/dev/null
q "update labwatch.alerts set state = 'open', resolved_at = null where id = $RY; with s as (insert into labwatch.alerts (patient, protocol, kind, severity, grade, summary) values ($NT1, 'NCTH', 'toxicity', 'critical', 4, 'g4') returning id) update labwatch.alerts set state = 'resolved', resolved_at = now(), superseded_by = (select id from s) where id = $RY" >/dev/null
check "reopened and superseded in one transaction: no reopen event" eq "$(q "select string_agg(event, ',' order by id) from labwatch.alert_events where alert = $RY")" "trigger,resolve"
RZ=$(q "insert into labwatch.alerts (patient, protocol, kind, severity, grade, summary) values ($NT1, 'NCTH', 'hold', 'critical', null, 'h') returning id")
q "update labwatch.alerts set state = 'resolved', resolved_at = now() where id = $RZ" >/dev/null
q "select set_config('labwatch.reopen_note', 're-evaluated under sha256:00', false); update labwatch.alerts set state = 'acknowledged', resolved_at = null where id = $RZ" >/dev/null
check "reopened in a session that names why: its note" eq "$(q "select string_agg(event || ':' || coalesce(note, '-'), ',' order by id) from labwatch.alert_events where alert = $RZ and event <> 'trigger'")" "resolve:resolved by a corrected result,reopen:reopened: re-evaluated under sha256:00"

# --- 11. --parallel 3: never more than 3 deliveries at once (and more
#         than one), and each alert's events (trigger, acknowledge,
#         resolve) one at a time, in order
q "select labwatch.notify_register('par')" >/dev/null
mkdir -p "$TMP/par"
cat >"$TMP/par.sh" <<'EOF'
#!/bin/sh
cat >/dev/null
touch "$1/run.$$"
ls "$1" | grep -c '^run\.' >>"$1/conc"
echo "start $LABWATCH_ALERT_EVENT $LABWATCH_ALERT_ID" >>"$1/log"
sleep 0.3
echo "end $LABWATCH_ALERT_EVENT $LABWATCH_ALERT_ID" >>"$1/log"
rm -f "$1/run.$$"
EOF
chmod +x "$TMP/par.sh"
for i in 1 2 3 4 5 6 7 8; do
	P=$(q "insert into labwatch.alerts (patient, protocol, kind, severity, summary)
	   values ($NT1, 'NCTP', 'data_quality', 'warning', 'par $i') returning id")
	"$LW" ack "$P" --by dr.p >/dev/null
	"$LW" resolve "$P" --by dr.p >/dev/null
done
"$LW" notify --exec "$TMP/par.sh $TMP/par" --target par --protocol NCTP \
	--parallel 3 2>"$TMP/n11.log" &
PIDS="$PIDS $!"
check "24 events delivered" wait_for 30 "select count(*) = 24 from labwatch.deliveries where target = 'par' and state = 'delivered'"
sleep 0.3
check "once each; never more than 3 at once, and more than one" $PY - "$TMP/par" <<'EOF'
import sys
d = sys.argv[1]
log = [l.split() for l in open(d + "/log")]
starts = [(e, a) for s, e, a in log if s == "start"]
assert len(starts) == 24 and len(set(starts)) == 24, starts
conc = [int(l) for l in open(d + "/conc")]
assert 2 <= max(conc) <= 3, conc
EOF
check "per alert: trigger, acknowledge, resolve, each after the last ended" $PY - "$TMP/par/log" <<'EOF'
import collections, sys
by = collections.defaultdict(list)
for l in open(sys.argv[1]):
    s, e, a = l.split()
    by[a].append((s, e))
assert len(by) == 8, by
for a, v in by.items():
    assert v == [("start", "trigger"), ("end", "trigger"), ("start", "acknowledge"),
                 ("end", "acknowledge"), ("start", "resolve"), ("end", "resolve")], (a, v)
EOF

check "notify: usage errors exit 2" sh -c "'$LW' notify 2>/dev/null; [ \$? -eq 2 ] && '$LW' notify --exec x --retry-after 5y 2>/dev/null; [ \$? -eq 2 ] && '$LW' notify --exec x --parallel 0 2>/dev/null; [ \$? -eq 2 ]"

done_testing
