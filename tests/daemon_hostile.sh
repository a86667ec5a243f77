#!/bin/sh
# Hostile and refused messages against labwatchd and a real PostgreSQL
# (issue 9): no message may wedge the store. A message the database would
# refuse is answered AE and quarantined, never spooled; a spooled frame
# the database refuses on drain is quarantined (or dead-lettered) and the
# drain goes on, before and after a restart; an outage is two log lines.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
pg_suite hostile

lwd_db_conf "$TMP/d.conf" "log_level = info"
start_daemon() { lwd_run "$TMP/d.conf"; }
stop_daemon() { lwd_end; }
# send FILE...: each file is one message (CR segments); prints "CODE ERR-text"
# per ACK, in order, over one connection.
send() {
	$PY - "$port" "$@" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
for name in sys.argv[2:]:
    s.sendall(b"\x0b" + open(name, "rb").read() + b"\x1c\r")
    buf = b""
    while b"\x1c" not in buf:
        d = s.recv(65536)
        if not d:
            print("CLOSED"); sys.exit(0)
        buf += d
    segs = buf.split(b"\x1c")[0].strip(b"\x0b").split(b"\r")
    msa = [x for x in segs if x.startswith(b"MSA|")][0].split(b"|")
    err = [x for x in segs if x.startswith(b"ERR|")]
    print(msa[1].decode(), err[0].decode("latin-1")[:160] if err else "")
PYEOF
}
long() { head -c "$1" /dev/zero | tr '\0' "$2"; }
msg() { # FILE MSH3 MSH4 MSH10 PID3 [MSH18]
	printf 'MSH|^~\\&|%s|%s|LW|H|20261120073000||ORU^R01|%s|P|2.5.1||||||%s\rPID|1||%s^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r' \
		"$2" "$3" "$4" "${6:-}" "$5" >"$1"
}

start_daemon
check "labwatchd starts" test -n "$port"

# 1. A crafted message against each index of the schema: AE with ERR,
#    quarantined with the reason; the valid message after it is stored
#    (processed), not spooled.
msg "$TMP/cid.hl7" LIS MAIN "$(long 3000 C)" P1
msg "$TMP/app.hl7" "$(long 3000 A)" MAIN APPLONG P1
msg "$TMP/fac.hl7" LIS "$(long 3000 F)" FACLONG P1
msg "$TMP/pid.hl7" LIS MAIN PIDLONG "$(long 3000 P)"
msg "$TMP/ok1.hl7" LIS MAIN OK1 P1
send "$TMP/cid.hl7" "$TMP/ok1.hl7" >"$TMP/1.out"
check "MSH-10 of 3,000 characters: AE with ERR 102 at MSH-10" \
	sh -c "head -1 '$TMP/1.out' | grep -q '^AE ERR|.*MSH^1^10.*|102'"
check "the valid message after it: AA" sh -c "sed -n 2p '$TMP/1.out' | grep -q '^AA'"
check "the valid message after it is stored, not spooled" \
	test "$(q "select outcome || coalesce(spool_ref, '') from labwatch.messages where control_id = 'OK1'")" = processed
check "the long MSH-10 is quarantined, keyed by its digest, with the reason" \
	test "$(q "select count(*) from labwatch.messages where outcome = 'quarantined' and control_id like 'sha256:%' and reason like 'MSH-10 message control id longer than 199%'")" -eq 1
for f in app fac pid; do
	send "$TMP/$f.hl7" >"$TMP/1$f.out"
	check "long $f: AE" grep -q '^AE ERR|' "$TMP/1$f.out"
done
check "long MSH-3, MSH-4, PID-3: quarantined with their reasons" \
	test "$(q "select count(*) from labwatch.messages where outcome = 'quarantined' and reason ~ '^(MSH-3|MSH-4|PID-3) .* longer than'")" -eq 3
check "no patient row for the long PID-3" test "$(q "select count(*) from labwatch.patients where length(patient_id) > 199")" -eq 0

# 2. Bytes not valid in the message's character set in PID-3: AE, not AR
#    (the sender would resend forever).
printf 'MSH|^~\\&|LIS|MAIN|LW|H|20261120073000||ORU^R01|LAT1|P|2.5.1\rPID|1||MRN\351^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r' >"$TMP/lat1.hl7"
printf 'MSH|^~\\&|LIS|MAIN|LW|H|20261120073000||ORU^R01|UTF1|P|2.5.1||||||UNICODE UTF-8\rPID|1||MRN\303(^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r' >"$TMP/utf1.hl7"
msg "$TMP/ok2.hl7" LIS MAIN OK2 P2
send "$TMP/lat1.hl7" "$TMP/utf1.hl7" "$TMP/ok2.hl7" >"$TMP/2.out"
check "Latin-1 PID-3 without MSH-18: AE" sh -c "sed -n 1p '$TMP/2.out' | grep -q '^AE ERR|.*PID'"
check "invalid UTF-8 PID-3 under UNICODE UTF-8: AE" sh -c "sed -n 2p '$TMP/2.out' | grep -q '^AE ERR|.*PID'"
check "the message after them: AA and stored" sh -c "sed -n 3p '$TMP/2.out' | grep -q '^AA' && test \"\$(psql -X -A -t -q -c \"select outcome from labwatch.messages where control_id = 'OK2'\")\" = processed"

# 3. A message the database itself refuses (a constraint an administrator
#    added: check_violation, SQLSTATE 23514, for processed rows only):
#    AE and quarantined with the reason, never spooled; the rest stored.
q "create function labwatch.refuse_poison() returns trigger language plpgsql as \$\$ begin if new.control_id like 'POISON%' and new.outcome <> 'quarantined' then raise exception 'poison' using errcode = 'check_violation'; end if; if new.control_id like 'DEAD%' then raise exception 'dead' using errcode = 'check_violation'; end if; return new; end \$\$"
q "create trigger refuse_poison before insert on labwatch.messages for each row execute function labwatch.refuse_poison()"
msg "$TMP/poison.hl7" LIS MAIN POISON1 P3
msg "$TMP/ok3.hl7" LIS MAIN OK3 P3
send "$TMP/poison.hl7" "$TMP/ok3.hl7" >"$TMP/3.out"
check "refused by the database: AE (not AR)" sh -c "head -1 '$TMP/3.out' | grep -q '^AE'"
check "refused by the database: quarantined with the reason, not spooled" \
	test "$(q "select count(*) from labwatch.messages where control_id = 'POISON1' and outcome = 'quarantined' and reason like 'the database refused the message: it breaks a constraint' and spool_ref is null")" -eq 1
check "the message after it: stored" test "$(q "select outcome from labwatch.messages where control_id = 'OK3'")" = processed

# 3b. Refused for a reason that reads as the database's (query_canceled,
#     SQLSTATE 57014, as statement_timeout gives for one huge message),
#     even as quarantined: the message after it goes in, so this one is
#     dead-lettered, and nothing waits behind it.
q "create or replace function labwatch.refuse_slow() returns trigger language plpgsql as \$\$ begin if new.control_id like 'SLOW%' then raise exception 'slow' using errcode = 'query_canceled'; end if; return new; end \$\$"
q "create trigger refuse_slow before insert on labwatch.messages for each row execute function labwatch.refuse_slow()"
msg "$TMP/slow.hl7" LIS MAIN SLOW1 P3
msg "$TMP/ok5.hl7" LIS MAIN OK5 P3
msg "$TMP/ok6.hl7" LIS MAIN OK6 P3
send "$TMP/slow.hl7" "$TMP/ok5.hl7" "$TMP/ok6.hl7" >"$TMP/3b.out"
for _ in $(seq 50); do [ "$(q "select count(*) from labwatch.messages where control_id in ('OK5', 'OK6')")" -eq 2 ] && break; sleep 0.1; done
check "a message refused for the database's reasons does not hold back the next" \
	test "$(q "select count(*) from labwatch.messages where control_id in ('OK5', 'OK6') and outcome = 'processed'")" -eq 2
check "it is kept in the dead-letter file" test -s "$PGD/spool.dead"
q "drop trigger refuse_slow on labwatch.messages"

# 3c. Refused for everyone (insufficient_privilege, 42501, for every row:
#     a grant an administrator took away): nothing is quarantined or
#     dead-lettered, everything waits in the spool and goes in once the
#     database takes writes again.
dead_before=$(stat -c %s "$PGD/spool.dead")
q "create or replace function labwatch.refuse_all() returns trigger language plpgsql as \$\$ begin raise exception 'no' using errcode = 'insufficient_privilege'; end \$\$"
q "create trigger refuse_all before insert on labwatch.messages for each row execute function labwatch.refuse_all()"
for i in 1 2 3; do msg "$TMP/all$i.hl7" LIS MAIN ALL$i P3; done
send "$TMP/all1.hl7" "$TMP/all2.hl7" "$TMP/all3.hl7" >"$TMP/3c.out"
check "refused for everyone: ACKed AA once spooled" test "$(grep -c '^AA' "$TMP/3c.out")" -eq 3
sleep 1
check "refused for everyone: nothing dead-lettered" test "$(stat -c %s "$PGD/spool.dead")" -eq "$dead_before"
q "drop trigger refuse_all on labwatch.messages"
for _ in $(seq 50); do [ "$(q "select count(*) from labwatch.messages where control_id like 'ALL_'")" -eq 3 ] && break; sleep 0.1; done
check "refused for everyone: all stored once the database takes writes" \
	test "$(q "select count(*) from labwatch.messages where control_id like 'ALL_' and outcome = 'processed'")" -eq 3
# 3d. While the spool holds a patient's frames, that patient's new frames
#     go behind them (order of arrival kept), and everyone else's go in at
#     once. The drain is held up by a trigger refusing spooled rows.
q "create or replace function labwatch.refuse_spooled() returns trigger language plpgsql as \$\$ begin if new.spool_ref is not null then raise exception 'no' using errcode = 'insufficient_privilege'; end if; return new; end \$\$"
q "create trigger refuse_spooled before insert on labwatch.messages for each row execute function labwatch.refuse_spooled()"
pg_stop "$PGD" >/dev/null
msg "$TMP/ord1.hl7" LIS MAIN ORDA1 PA
send "$TMP/ord1.hl7" >/dev/null
pg_start "$PGD" >/dev/null
msg "$TMP/ord2.hl7" LIS MAIN ORDB1 PB
msg "$TMP/ord3.hl7" LIS MAIN ORDA2 PA
sleep 1.5
send "$TMP/ord2.hl7" "$TMP/ord3.hl7" >"$TMP/3d.out"
check "spool held up: both ACKed AA" test "$(grep -c '^AA' "$TMP/3d.out")" -eq 2
# In one batch (one write): a frame for PA and PM goes behind PA's, so
# the frame after it for PM alone must go behind too; and a frame whose
# message key is PA's spooled one (a resend with another patient) too.
printf 'MSH|^~\\&|LIS|MAIN|LW|H|20261120073000||ORU^R01|ORDM1|P|2.5.1\rPID|1||PA^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\rPID|2||PM^^^HOSP^MR\rOBR|1|O2|F2|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||31|U/L|10-40||||F\r' >"$TMP/ordm1.hl7"
msg "$TMP/ordm2.hl7" LIS MAIN ORDM2 PM
msg "$TMP/ordkey.hl7" LIS MAIN ORDA1 PK
$PY - "$port" "$TMP/ordm1.hl7" "$TMP/ordm2.hl7" "$TMP/ordkey.hl7" <<'PYEOF' >"$TMP/3d2.out"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"".join(b"\x0b" + open(n, "rb").read() + b"\x1c\r" for n in sys.argv[2:]))
buf = b""
while buf.count(b"\x1c") < len(sys.argv) - 2:
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.count(b"MSA|AA|"))
PYEOF
check "one batch: three ACKed AA" test "$(cat "$TMP/3d2.out")" -eq 3
check "one batch: a frame sharing a patient with one sent behind waits too" test "$(q "select count(*) from labwatch.messages where control_id in ('ORDM1', 'ORDM2')")" -eq 0
check "another patient's frame goes in at once" test "$(q "select outcome || coalesce(spool_ref, '') from labwatch.messages where control_id = 'ORDB1'")" = processed
check "the spooled patient's new frame waits behind its spooled one" test "$(q "select count(*) from labwatch.messages where control_id in ('ORDA1', 'ORDA2')")" -eq 0
q "drop trigger refuse_spooled on labwatch.messages"
for _ in $(seq 50); do [ "$(q "select count(*) from labwatch.messages where control_id like 'ORDA_'")" -eq 2 ] && break; sleep 0.1; done
for _ in $(seq 50); do [ "$(q "select count(*) from labwatch.messages where control_id like 'ORDM_'")" -eq 2 ] && break; sleep 0.1; done
check "once drained, the patient's frames are stored in the order they came" \
	test "$(q "select string_agg(control_id, ',' order by id) from labwatch.messages where control_id like 'ORD%' and control_id <> 'ORDB1'")" = "ORDA1,ORDA2,ORDM1,ORDM2"
check "a resend of a spooled message key: the spooled (first) copy is the one processed" \
	test "$(q "select count(*) from labwatch.messages where control_id = 'ORDA1' and outcome = 'processed' and position('PID|1||PA^' in convert_from(raw, 'UTF8')) > 0")" -eq 1
sleep 0.5
cp "$log" "$TMP/before-outage.log"
: >"$log.mark"

# 4. Spooled during an outage, refused on drain: quarantined (or
#    dead-lettered when even its quarantine row is refused), and the
#    drain goes on: everything after it is stored. The outage is one
#    "unreachable" line and one "back" line.
pg_stop "$PGD" >/dev/null
msg "$TMP/p2.hl7" LIS MAIN POISON2 P4
msg "$TMP/d1.hl7" LIS MAIN DEAD1 P4
for i in 1 2 3; do msg "$TMP/s$i.hl7" LIS MAIN SPOOL$i P4; done
send "$TMP/s1.hl7" "$TMP/p2.hl7" "$TMP/s2.hl7" "$TMP/d1.hl7" "$TMP/s3.hl7" >"$TMP/4.out"
check "database down: all five ACKed AA (spooled)" test "$(grep -c '^AA' "$TMP/4.out")" -eq 5
sleep 2
pg_start "$PGD" >/dev/null
for _ in $(seq 100); do
	[ "$(q "select count(*) from labwatch.messages where control_id like 'SPOOL%'")" -eq 3 ] 2>/dev/null && break
	sleep 0.1
done
check "after the drain: the three good frames stored" test "$(q "select count(*) from labwatch.messages where control_id like 'SPOOL%' and outcome = 'processed' and spool_ref is not null")" -eq 3
check "the refused spooled frame: quarantined with the reason" test "$(q "select count(*) from labwatch.messages where control_id = 'POISON2' and outcome = 'quarantined' and spool_ref is not null")" -eq 1
check "refused even as quarantined: in the dead-letter file" test "$(stat -c %s "$PGD/spool.dead")" -gt "$dead_before"
check "the spool is empty after the drain" sh -c "grep -q 'spool drained' '$log'"
tail -n +"$(($(wc -l <"$TMP/before-outage.log") + 1))" "$log" >"$TMP/outage.log"
check "the outage: one 'unreachable' line" test "$(grep -c 'unreachable' "$TMP/outage.log")" -eq 1
check "the outage: one 'back' line, with the spool's size" test "$(grep -c 'database back after .* the spool holds 5 frames' "$TMP/outage.log")" -eq 1
check "the dead letter is logged" grep -q 'dead-letter file' "$log"

# 5. The same across a restart of labwatchd: the spool is drained at start.
pg_stop "$PGD" >/dev/null
msg "$TMP/p3.hl7" LIS MAIN POISON3 P5
msg "$TMP/s4.hl7" LIS MAIN SPOOL4 P5
send "$TMP/p3.hl7" "$TMP/s4.hl7" >"$TMP/5.out"
stop_daemon
pg_start "$PGD" >/dev/null
start_daemon
for _ in $(seq 100); do
	[ "$(q "select count(*) from labwatch.messages where control_id = 'SPOOL4'")" -eq 1 ] 2>/dev/null && break
	sleep 0.1
done
check "after a restart: the frame behind the refused one stored" test "$(q "select count(*) from labwatch.messages where control_id = 'SPOOL4' and outcome = 'processed'")" -eq 1
check "after a restart: the refused one quarantined" test "$(q "select count(*) from labwatch.messages where control_id = 'POISON3' and outcome = 'quarantined'")" -eq 1
msg "$TMP/ok4.hl7" LIS MAIN OK4 P5
send "$TMP/ok4.hl7" >"$TMP/5b.out"
check "after a restart: a live message is written at once" test "$(q "select outcome || coalesce(spool_ref, '') from labwatch.messages where control_id = 'OK4'")" = processed
q "drop trigger refuse_poison on labwatch.messages"

# 6. What the sender was told is what is stored: none when MSH-15 asked
#    for no accept ACK; an ORU^R01 without OBX, or with results before any
#    PID, is AE with ERR 100; other ORU trigger events are ignored (AA).
printf 'MSH|^~\\&|LIS|MAIN|LW|H|20261120073000||ORU^R01|NE1|P|2.5.1|||NE|NE\rPID|1||P6^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r' >"$TMP/ne.hl7"
printf 'MSH|^~\\&|LIS|MAIN|LW|H|20261120073000||ORU^R01|AL1|P|2.5.1|||AL|NE\rPID|1||P6^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r' >"$TMP/al.hl7"
printf 'MSH|^~\\&|LIS|MAIN|LW|H|20261120073000||ORU^R01|NOOBX|P|2.5.1\rPID|1||P6^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\r' >"$TMP/noobx.hl7"
printf 'MSH|^~\\&|LIS|MAIN|LW|H|20261120073000||ORU^R01|NOPID|P|2.5.1\rOBR|1|O1|F1|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r' >"$TMP/nopid.hl7"
printf 'MSH|^~\\&|LIS|MAIN|LW|H|20261120073000||ORU^R30^ORU_R30|POC1|P|2.5.1\rPID|1||P6^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\rOBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r' >"$TMP/r30.hl7"
$PY - "$port" "$TMP/ne.hl7" <<'PYEOF' >"$TMP/6ne.out"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"\x0b" + open(sys.argv[2], "rb").read() + b"\x1c\r")
s.settimeout(2)
try:
    print("ACK" if s.recv(4096) else "CLOSED")
except socket.timeout:
    print("NONE")
PYEOF
check "MSH-15 NE: no ACK sent" grep -q '^NONE' "$TMP/6ne.out"
check "MSH-15 NE: stored ack_code is none" test "$(q "select ack_code from labwatch.messages where control_id = 'NE1'")" = none
send "$TMP/al.hl7" "$TMP/noobx.hl7" "$TMP/nopid.hl7" "$TMP/r30.hl7" >"$TMP/6.out"
check "MSH-15 AL: CA sent and stored" sh -c "head -1 '$TMP/6.out' | grep -q '^CA' && test \"\$(psql -X -A -t -q -c \"select ack_code from labwatch.messages where control_id = 'AL1'\")\" = CA"
check "ORU^R01 without OBX: AE with ERR 100" sh -c "sed -n 2p '$TMP/6.out' | grep -q '^AE ERR|.*|100'"
check "ORU^R01 with results before PID: AE with ERR 100" sh -c "sed -n 3p '$TMP/6.out' | grep -q '^AE ERR|.*|100'"
check "ORU^R30: AA, stored as ignored" sh -c "sed -n 4p '$TMP/6.out' | grep -q '^AA' && test \"\$(psql -X -A -t -q -c \"select outcome from labwatch.messages where control_id = 'POC1'\")\" = ignored"

# 7. Connections whose peer has gone do not count against
#    max_connections_per_peer (issue 9 item 5): with the store held up by
#    a lock, a sender sends a frame on each of two connections and closes
#    them before the ACK (a timeout, then a reconnect); its third
#    connection is still served.
stop_daemon
echo "max_connections_per_peer = 2" >>"$TMP/d.conf"
start_daemon
psql -X -q -c "begin; lock table labwatch.messages in access exclusive mode; select pg_sleep(3); commit;" >/dev/null 2>&1 &
locker=$!
sleep 0.5
for i in 1 2 3; do msg "$TMP/gh$i.hl7" LIS MAIN GHOST$i P7; done
$PY - "$port" "$TMP/gh1.hl7" "$TMP/gh2.hl7" "$TMP/gh3.hl7" <<'PYEOF' >"$TMP/7.out"
import socket, sys, time
frame = lambda n: b"\x0b" + open(n, "rb").read() + b"\x1c\r"
for n in sys.argv[2:4]:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(frame(n))
    time.sleep(0.2)
    s.close()          # gone before its ACK: the store is held up
time.sleep(0.3)
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(frame(sys.argv[4]))
buf = b""
try:
    while b"\x1c" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
except socket.timeout:
    pass
print("MSA|AA|GHOST3" in buf.decode("latin-1") and "SERVED" or "REFUSED")
PYEOF
wait $locker
check "two gone connections do not lock out the peer's third (max_connections_per_peer = 2)" grep -q '^SERVED' "$TMP/7.out"
check "the frames of the gone connections are stored all the same" \
	test "$(q "select count(*) from labwatch.messages where control_id in ('GHOST1', 'GHOST2', 'GHOST3')")" -eq 3

# 8. No patient data in the logs.
stop_daemon
cat "$TMP"/d[0-9]*.log >"$TMP/d.log"
printf 'spool at /tmp/labwatch-test.abcdP4/spool\n' >"$TMP/path.log"
printf 'refused P4 at MRN1\n' >"$TMP/phi.log"
path_log=$TMP/path.log
if (TMP=/tmp/labwatch-test.abcdP4 && no_patient_data 'MRN|PPPP|P4\b' "$path_log"); then
	ok "the log check: the suite's own directory is not patient data"
else not_ok "the log check: the suite's own directory is not patient data"; fi
if no_patient_data 'MRN|PPPP|P4\b' "$TMP/phi.log" >/dev/null; then not_ok "the log check finds an identifier where one is"; else ok "the log check finds an identifier where one is"; fi
check "no patient identifiers in the logs" no_patient_data 'MRN|PPPP|P4\b' "$TMP/d.log"
check_observation_links

done_testing
