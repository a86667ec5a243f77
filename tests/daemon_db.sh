#!/bin/sh
# labwatchd against a real private PostgreSQL, with real clients: Debian's
# python3-hl7 mllp_send, bench/mllp_load (plain and TLS, verifying every
# accepted control id in the database) and labwatch alerts --follow.
# Faults under load: PostgreSQL stopped and started, SIGTERM, kill -9.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
LOAD="$top_builddir/bench/mllp_load"
pg_suite daemon

# Rules data of our own, so that SIGHUP can change it.
mkdir -p "$TMP/rules/protocols"
cp "$top_srcdir/rules/data/analytes.conf" "$top_srcdir/rules/data/ctcae-5.0.conf" "$TMP/rules/"
cp "$top_srcdir/rules/data/protocols/nct04933669.conf" "$TMP/rules/protocols/"
lwd_db_conf "$TMP/d.conf" "tls_listen = 127.0.0.1:0
tls_cert = $TMP/server.pem
tls_key = $TMP/server.key
tls_ca = $TMP/ca.pem
tls_verify_client = require
protocol = $TMP/rules/protocols/nct04933669.conf
max_message_size = 64k
log_level = info"
# A CA, a server certificate and a client certificate, made here.
test_certs

# Each run logs to its own file ($TMP/dN.log); d.log collects them all.
start_daemon() {
	lwd_run "$TMP/d.conf"
	tport=$tls_port
}
dpid() { cat "$TMP/d$lwd_runs.pid"; }
# frame_send FILE...: the ACKs printed as "CODE CONTROL_ID" lines
frame_send() { mllp_acks "$@"; }
"$top_builddir/bench/gen_oru" -n 500 -s 21 -f raw >"$TMP/template.raw" 2>/dev/null
load() { "$LOAD" -h 127.0.0.1 -p "$port" --template "$TMP/template.raw" --verify "$LABWATCH_DB" --json "$@" 2>"$TMP/load.err"; }

start_daemon
check "labwatchd starts, migrates, listens (plain and TLS)" sh -c "[ -n '$port' ] && [ -n '$tport' ]"
check "schema migrated at start" test "$(q "select count(*) from labwatch.schema_migrations")" -ge 1

# 1. Debian's python3-hl7 mllp_send: a LF-terminated file of three messages.
printf 'MSH|^~\\&|LIS|MAINLAB|LW|H|20261120073000+0800||ORU^R01^ORU_R01|MS%d|P|2.5.1\nPID|1||MRN%d^^^H^MR\nOBR|1|O%d|F%d|24323-8^CMP^LN\nOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\n' \
	1 1 1 1 2 2 2 2 3 3 3 3 >"$TMP/three.hl7"
mllp_send --loose -f "$TMP/three.hl7" -p "$port" 127.0.0.1 >"$TMP/mllp_send.out" 2>&1
check "mllp_send: three AA" test "$(grep -c 'MSA|AA|MS[123]' "$TMP/mllp_send.out")" -eq 3
check "mllp_send: three messages stored" test "$(q "select count(*) from labwatch.messages where control_id like 'MS_' and outcome = 'processed'")" -eq 3

# 2. The same message twice: AA twice, one set of rows.
mllp_send --loose -f "$TMP/three.hl7" -p "$port" 127.0.0.1 >"$TMP/again.out" 2>&1
check "resent: AA again" test "$(grep -c 'MSA|AA|MS[123]' "$TMP/again.out")" -eq 3
check "resent: one row per message" test "$(q "select count(*) from labwatch.messages where control_id like 'MS_'")" -eq 3
check "resent: one set of observations" test "$(q "select count(*) from labwatch.observations o join labwatch.messages m on m.id = o.message where m.control_id like 'MS_'")" -eq 3

# 3. A malformed frame: AE and a quarantine row; an oversized one: AR, and
#    the connection still works.
printf '\013MSH|^~\\&|LIS|MAINLAB|LW|H|20261120||ORU^R01|MAL1|P|2.5.1\rP@D|1\r\034\r' >"$TMP/mal.mllp"
frame_send "$TMP/mal.mllp" >"$TMP/mal.out"
check "malformed frame: AE" grep -q "^AE MAL1" "$TMP/mal.out"
check "malformed frame: quarantined with its reason" test "$(q "select count(*) from labwatch.messages where control_id = 'MAL1' and outcome = 'quarantined' and reason like '%segment%'")" -eq 1
$PY -c "
import sys
big = b'MSH|^~\\\\&|LIS|MAINLAB|LW|H|20261120||ORU^R01|BIG1|P|2.5.1\rPID|1||P1\rNTE|1||' + b'x' * 100000 + b'\r'
sys.stdout.buffer.write(b'\x0b' + big + b'\x1c\r')" >"$TMP/big.mllp"
printf '\013MSH|^~\\&|T|T|L|L|20261120||ORU^R01|PING|P|2.5.1\rPID|1||P1\rOBR|1|O1|F1|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r\034\r' >"$TMP/ping.mllp"
# the ping sent once the oversized frame's ACK came, on its connection
frame_send "$TMP/big.mllp" "$TMP/ping.mllp" >"$TMP/big.out"
check "oversized frame: AR" grep -q "^AR BIG1" "$TMP/big.out"
check "oversized frame: the connection still works" grep -q "^AA PING" "$TMP/big.out"
check "oversized frame: kept (its start) with the reason" test "$(q "select count(*) from labwatch.messages where outcome = 'quarantined' and reason like '%max_message_size%' and size > 100000")" -eq 1

# 3b. A known patient's message with more observations than one statement
#     reads by subscript (256): written in one statement all the same,
#     every row once; sent again, a duplicate: AA, no second set of rows.
many_obx() { # CONTROL_ID N: an MLLP frame for patient KN1 with N OBX
	$PY - "$@" <<'EOF2'
import sys
cid, n = sys.argv[1], int(sys.argv[2])
seg = [f"MSH|^~\\&|LIS|MAINLAB|LW|H|20261120||ORU^R01|{cid}|P|2.5.1", "PID|1||KN1^^^H^MR",
       f"OBR|1|O{cid}|F{cid}|24323-8^CMP^LN|||20261120073000"]
seg += [f"OBX|{k + 1}|NM|1742-6^ALT^LN|{k}|31|U/L|10-40||||F" for k in range(n)]
sys.stdout.buffer.write(b"\x0b" + "\r".join(seg).encode() + b"\r\x1c\r")
EOF2
}
many_obx KN1A 3 >"$TMP/kn1a.mllp"
many_obx KN1B 300 >"$TMP/kn1b.mllp"
frame_send "$TMP/kn1a.mllp" >"$TMP/kn1a.out"
frame_send "$TMP/kn1b.mllp" >"$TMP/kn1b.out"
frame_send "$TMP/kn1b.mllp" >"$TMP/kn1b2.out"
check "300 OBX for a known patient: AA, then AA again as a duplicate" \
	sh -c "grep -q '^AA KN1B' '$TMP/kn1b.out' && grep -q '^AA KN1B' '$TMP/kn1b2.out'"
check "300 OBX for a known patient: 300 rows, once" \
	test "$(q "select count(*) from labwatch.observations o join labwatch.messages m on m.id = o.message where m.control_id = 'KN1B'")" -eq 300

# 3c. The same archive sent at once on 4 connections (a LIS resending on a
#     new connection while the first copy is in flight), three times:
#     every frame ACKed AA within 30 s, each message stored once. Known
#     patients' batches go in one round trip, new patients' in two; a
#     batch started while one sent whole had not yet inserted the same
#     message took its key first, and the writer waited for ever (fails
#     before the fix in ingest.c's shares_key()).
resend() { $PY "$top_srcdir/tests/resend_concurrent.py" "$port" "$@"; }
resend 1 80 WARM 30 >"$TMP/warm.out"
for r in 1 2 3; do
	resend 4 300 "R${r}D" 30 >"$TMP/resend$r.out"
	check "resent at once on 4 connections ($r): every frame AA in time" \
		test "$(grep -c '^ok 300$' "$TMP/resend$r.out")" -eq 4
	check "resent at once on 4 connections ($r): each message once" \
		test "$(q "select count(*) || '/' || count(distinct control_id) from labwatch.messages where control_id like 'R${r}D%'")" = 300/300
	check "resent at once on 4 connections ($r): one set of observations" \
		test "$(q "select count(*) from labwatch.observations o join labwatch.messages m on m.id = o.message where m.control_id like 'R${r}D%'")" -eq 300
done
check "resent at once: one row per new patient" \
	test "$(q "select count(*) || '/' || count(distinct patient_id) from labwatch.patients where patient_id like 'R_DNEW%'")" = 225/225

# 3d. The same, made certain: a batch sent in one round trip (known
#     patients: HOLD1, then STALL1) is held before it inserts STALL1 by a
#     session of ours that has HOLD1 uncommitted; the batch after it
#     (a copy of STALL1 from another connection, and a new patient, so
#     started in two round trips) would take STALL1 first and wait, idle,
#     for the writer, which waits on the first: no ACK ever again. The
#     writer is kept busy on HOLD0 meanwhile, so that the four frames
#     come as one batch, split in two halves side by side.
hold_key() { # CONTROL_ID SECONDS: its key taken, uncommitted, for a while
	psql -X -q -c "begin; insert into labwatch.messages (peer, sending_application, sending_facility, control_id, outcome, ack_code, size, raw, sha256) values ('test', 'LIS', 'MAINLAB', '$1', 'processed', 'AA', 0, '', ''); select pg_sleep($2); rollback" >/dev/null 2>&1 &
}
hold_key HOLD0 2
hold_key HOLD1 4
sleep 0.5
$PY - "$port" >"$TMP/stall.out" <<'EOF2'
import socket, sys, threading, time
port = int(sys.argv[1])
def frame(cid, pid):
    return (b"\x0b" + ("MSH|^~\\&|LIS|MAINLAB|LW|H|20261120073000+0800||ORU^R01^ORU_R01|%s|P|2.5.1\r"
            "PID|1||%s^^^H^MR\rOBR|1|O%s|F%s|24323-8^CMP^LN\r"
            "OBX|1|NM|1742-6^ALT^LN||31|U/L|10-40||||F\r" % (cid, pid, cid, cid)).encode() + b"\x1c\r")
out = {}
def run(name, frames, delay):
    time.sleep(delay)
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(b"".join(frames))
    buf, end = b"", time.time() + 15
    try:
        while buf.count(b"\x1c") < len(frames) and time.time() < end:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    out[name] = sum(1 for f in buf.split(b"\x1c") if b"MSA|AA|" in f)
ts = [threading.Thread(target=run, args=a) for a in (
    ("c1", [frame("HOLD0", "KN1")], 0),
    ("c2", [frame("HOLD1", "KN1"), frame("STALL1", "KN1")], 0.5),
    ("c3", [frame("STALL1", "KN1"), frame("STALL1NEW", "STALLNEW1")], 0.8))]
for t in ts: t.start()
for t in ts: t.join()
print(" ".join("%s=%d" % (k, out[k]) for k in sorted(out)))
EOF2
check "a resend racing its first copy: every frame AA within 15 s" grep -qx "c1=1 c2=2 c3=2" "$TMP/stall.out"
check "a resend racing its first copy: stored once" \
	test "$(q "select count(*) from labwatch.messages where control_id in ('HOLD0', 'HOLD1', 'STALL1', 'STALL1NEW')")" -eq 4

# 4. TLS with a client certificate: every accepted message stored once.
"$LOAD" -h 127.0.0.1 -p "$tport" --tls --ca "$TMP/ca.pem" --cert "$TMP/client.pem" --key "$TMP/client.key" \
	--servername localhost --template "$TMP/template.raw" -c 2 -n 100 --run-id TLS \
	--verify "$LABWATCH_DB" --json >"$TMP/tls.json" 2>"$TMP/tls.err"
check "TLS: 100 accepted and stored exactly once" json_assert "$TMP/tls.json" \
	'L[0]["accepted"] == 100 and L[0]["verify"]["missing"] == 0 and L[0]["verify"]["duplicated"] == 0'
"$LOAD" -h 127.0.0.1 -p "$tport" --tls --ca "$TMP/ca.pem" --servername localhost \
	--template "$TMP/template.raw" -c 1 -n 1 --run-id NOCERT >/dev/null 2>&1
check "TLS: no client certificate, refused" test $? -ne 0

# 5. An enrolled patient's alert arrives as a NOTIFY (labwatch alerts --follow).
"$LW" enroll T100 --phase neoadjuvant --since 2026-11-01 >/dev/null
"$LW" alerts --follow --since 2026-01-01 >"$TMP/follow.out" 2>&1 &
PIDS=$!
sleep 1
printf 'MSH|^~\\&|LIS|MAINLAB|LW|H|20261120073000+0800||ORU^R01^ORU_R01|TOX1|P|2.5.1\nPID|1||T100^^^H^MR\nOBR|1|O9|F9|24323-8^CMP^LN\nOBX|1|NM|1742-6^ALT^LN||210|U/L|10-40||||F\n' >"$TMP/tox.hl7"
mllp_send --loose -f "$TMP/tox.hl7" -p "$port" 127.0.0.1 >/dev/null 2>&1
for _ in $(seq 50); do grep -q '"kind":"toxicity"' "$TMP/follow.out" && break; sleep 0.1; done
check "alert for an enrolled patient arrives as a NOTIFY" grep -q '"kind":"toxicity".*"grade":3' "$TMP/follow.out"
check "the hold alert too" grep -q '"kind":"hold"' "$TMP/follow.out"

# 6. SIGHUP with a changed protocol file applies to the next message: with
#    alert_grade 2, ALT 3.5 x ULN (grade 2) now alerts.
printf 'MSH|^~\\&|LIS|MAINLAB|LW|H|20261121073000+0800||ORU^R01^ORU_R01|G2A|P|2.5.1\nPID|1||T100^^^H^MR\nOBR|1|O10|F10|24323-8^CMP^LN\nOBX|1|NM|1920-8^AST^LN||140|U/L|10-40||||F\n' >"$TMP/g2a.hl7"
mllp_send --loose -f "$TMP/g2a.hl7" -p "$port" 127.0.0.1 >/dev/null 2>&1
check "grade 2 does not alert at alert_grade 3" test "$(q "select count(*) from labwatch.alerts where analyte = 'ast' and kind = 'toxicity'")" -eq 0
sed -i 's/^alert_grade = 3/alert_grade = 2/' "$TMP/rules/protocols/nct04933669.conf"
kill -HUP "$(dpid)"
sleep 1
sed 's/G2A/G2B/; s/20261121073000/20261122073000/; s/O10|F10/O11|F11/' "$TMP/g2a.hl7" >"$TMP/g2b.hl7"
mllp_send --loose -f "$TMP/g2b.hl7" -p "$port" 127.0.0.1 >/dev/null 2>&1
check "after SIGHUP, grade 2 alerts" test "$(q "select count(*) from labwatch.alerts where analyte = 'ast' and kind = 'toxicity' and grade = 2")" -eq 1

# 7. Load: every AA-ACKed control id is in the database exactly once.
load -c 16 -n 2000 --run-id L16 >"$TMP/l16.json"
check "16 senders: 2000 accepted, each stored once" json_assert "$TMP/l16.json" \
	'L[0]["accepted"] == 2000 and L[0]["verify"]["missing"] == 0 and L[0]["verify"]["duplicated"] == 0'

# 8. PostgreSQL stopped under load: spooled and ACKed, drained when it is
#    back; every ACKed id stored exactly once (verified once drained).
load -c 8 -d 8 --run-id PGDOWN --verify-wait 60 >"$TMP/pgdown.json" &
loader=$!
sleep 2
pg_stop "$PGD" >/dev/null
sleep 3
pg_start "$PGD" >/dev/null
wait $loader
check "PostgreSQL down under load: every ACKed id stored once after the drain" json_assert "$TMP/pgdown.json" \
	'L[0]["accepted"] > 100 and L[0]["verify"]["missing"] == 0 and L[0]["verify"]["duplicated"] == 0'
check "PostgreSQL down: the spool was used" test "$(q "select count(*) from labwatch.messages where control_id like 'PGDOWN-%' and spool_ref is not null")" -gt 0

# 9. SIGTERM under load: in-flight frames finished and ACKed, exit 0; every
#    ACKed id stored. An ACK may rest on the spool (the daemon may still be
#    reconnecting after case 8 on a slow machine): those reach the database
#    when the restarted daemon drains it, so the loader waits for them.
load -c 8 -d 6 --run-id TERM --verify-wait 60 >"$TMP/term.json" &
loader=$!
sleep 2
lwd_end
check "SIGTERM under load: exit 0" test $? -eq 0
start_daemon
wait $loader
check "SIGTERM under load: every ACKed id stored once" json_assert "$TMP/term.json" \
	'L[0]["accepted"] > 0 and L[0]["verify"]["missing"] == 0 and L[0]["verify"]["duplicated"] == 0'

# 10. kill -9 under load, then restart: every ACKed id is there (the
#     spooled ones once the restarted daemon drained them).
load -c 8 -d 6 --run-id KILL --verify-wait 60 >"$TMP/kill.json" &
loader=$!
sleep 2
kill -9 "$(dpid)"
wait "$(dpid)" 2>/dev/null
rm -f "$TMP/d$lwd_runs.pid"
start_daemon
wait $loader
check "kill -9 under load: every ACKed id stored once" json_assert "$TMP/kill.json" \
	'L[0]["accepted"] > 0 and L[0]["verify"]["missing"] == 0 and L[0]["verify"]["duplicated"] == 0'

# 11. No patient data in the log.
lwd_end
cat "$TMP"/d[0-9]*.log >"$TMP/d.log"
check "no patient identifiers or values in the logs" no_patient_data 'T100|MRN1|Doe' "$TMP/d.log"
check_observation_links

done_testing
