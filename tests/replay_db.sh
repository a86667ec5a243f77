#!/bin/sh
# labwatch replay into a real labwatchd and a private PostgreSQL: each input
# form and gzip, a directory; a broken message in the middle; --on-error
# stop; SIGKILL then --resume (every message stored exactly once); a
# patient's messages in file order under --connections 8 (interleaved,
# and one patient's long runs between one-message patients); TLS with a
# client certificate; the exit codes.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite replay
stored() { q "select count(*) from labwatch.messages where control_id like '$1' and outcome = 'processed'"; }
rows() { q "select count(*) from labwatch.messages where control_id like '$1'"; }

lwd_db_conf "$TMP/d.conf" "tls_listen = 127.0.0.1:0
tls_cert = $TMP/server.pem
tls_key = $TMP/server.key
tls_ca = $TMP/ca.pem
tls_verify_client = require
log_level = info"
test_certs "$TMP"
lwd_start d "$TMP/d.conf"
tport=$tls_port
check "labwatchd listens (plain and TLS)" sh -c "[ -n '$port' ] && [ -n '$tport' ]"
export LABWATCH_MLLP="127.0.0.1:$port"
replay() { "$LW" replay --timeout 10 --retries 2 "$@"; }
msg() { oru "$1" "$2" 20261120073000 "1742-6|NM|30|U/L|10-40"; }

# 1. Every form labwatch parse reads, gzip by magic (not by name), stdin,
#    and a directory walked recursively.
mkdir -p "$TMP/in/sub"
{ msg F1 RAW1; msg F1 RAW2; } | tr '\r' '\n' >"$TMP/in/a.hl7"
{ for c in MLLP1 MLLP2; do printf '\013'; msg F2 $c; printf '\034\r'; done; } >"$TMP/in/b.mllp"
{ printf 'FHS|^~\\&|LIS|L|LW|H|20261120\rBHS|^~\\&|LIS|L|LW|H|20261120\r'
  msg F3 BAT1; msg F3 BAT2; printf 'BTS|2\rFTS|1\r'; } >"$TMP/in/sub/c.batch"
{ msg F4 GZ1; msg F4 GZ2; } | gzip >"$TMP/in/sub/d.txt"
replay "$TMP/in" >"$TMP/forms.out" 2>&1
check "forms: exit 0" test $? -eq 0
check "forms: raw LF, MLLP, batch and gzip messages stored" test "$(stored 'RAW_') $(stored 'MLLP_') $(stored 'BAT_') $(stored 'GZ_')" = "2 2 2 2"
check "forms: summary by ACK code" grep -q "AA 8" "$TMP/forms.out"
msg F5 STDIN1 | replay - >/dev/null 2>&1
check "stdin: stored" test "$(stored STDIN1)" -eq 1

# 2. A broken message in the middle (a frame cut short): reported with
#    its file and byte offset, the rest stored, exit 1; --on-error stop
#    stops there.
for s in A B; do
	{ printf '\013'; msg F6 BRK${s}1; printf '\034\r\013MSH|^~\\&|LIS|L|LW|H|2026'
	  printf '\013'; msg F6 BRK${s}3; printf '\034\r'; } >"$TMP/broken$s.mllp"
done
off=$( (printf '\013'; msg F6 BRKA1; printf '\034\r') | wc -c)
replay "$TMP/brokenA.mllp" >"$TMP/brk.out" 2>&1
check "broken: exit 1" test $? -eq 1
check "broken: reported with file and offset" grep -q "brokenA.mllp: offset $off:" "$TMP/brk.out"
check "broken: the messages around it stored" test "$(stored 'BRKA_')" -eq 2
replay --on-error stop "$TMP/brokenB.mllp" >/dev/null 2>&1
check "--on-error stop: exit 1, nothing after the broken message" sh -c "[ $? -eq 1 ] && [ $(stored BRKB1) -eq 1 ] && [ $(stored BRKB3) -eq 0 ]"

# 3. SIGKILL mid-run, then --resume: every message stored exactly once.
"$top_builddir/bench/gen_oru" -n 1500 -s 7 -f mllp >"$TMP/big.mllp" 2>/dev/null
before=$(q "select coalesce(max(id), 0) from labwatch.messages")
since() { q "select count(*) from labwatch.messages where id > $before"; }
"$LW" replay --rate 600 --connections 4 --resume "$TMP/ck" "$TMP/big.mllp" >/dev/null 2>&1 &
rp=$!
sleep 1.5
kill -9 $rp
wait $rp 2>/dev/null
# Let labwatchd finish the killed run's frames first: two copies of one
# message arriving at once on two connections stalled labwatchd's writers
# here (one session waits on the other's uncommitted insert while that one
# waits for the daemon; seen with two replays of one archive running at
# once, to be looked at in the daemon).
sleep 2
mid=$(since)
check "SIGKILL: stopped midway ($mid stored), a checkpoint written" sh -c "[ $mid -gt 0 ] && [ $mid -lt 1500 ] && grep -q '^offset [1-9]' '$TMP/ck'"
replay --connections 4 --resume "$TMP/ck" "$TMP/big.mllp" >"$TMP/resume.out" 2>&1
check "resume: exit 0" test $? -eq 0
check "resume: every message stored exactly once" test "$(q "select count(*), count(distinct (sending_application, sending_facility, control_id)) from labwatch.messages where id > $before")" = "1500|1500"
check "resume: sent only what was left" sh -c "grep -o '[0-9]* messages sent' '$TMP/resume.out' | awk '{ exit !(\$1 < 1500) }'"
replay --resume "$TMP/ck" "$TMP/big.mllp" >"$TMP/again.out" 2>&1
check "resume of a finished run: nothing sent" grep -q "^replay: 0 messages sent" "$TMP/again.out"

# Ctrl-C (SIGINT): stops after the ACKs in flight, exit 1, says so, and
# leaves a checkpoint to resume from.
"$LW" replay --rate 300 --resume "$TMP/ck2" "$TMP/big.mllp" >/dev/null 2>"$TMP/int.err" &
rp=$!
sleep 1
kill -INT $rp
wait $rp
check "Ctrl-C: exit 1, interrupted, a checkpoint" sh -c "[ $? -eq 1 ] && grep -q '(interrupted)' '$TMP/int.err' && grep -q '^offset [1-9]' '$TMP/ck2'"

# 4. Per-patient order under --connections 8: 40 patients, 10 messages
#    each, interleaved; each patient's messages arrive in file order.
#    A patient's messages are 40 apart here, so they keep their order by
#    timing alone even when a replay does not keep the patient on one
#    connection (tried: this case passed, 4c failed); 4c is the one with
#    a patient's messages back to back.
for k in 0 1 2 3 4 5 6 7 8 9; do
	for p in $(seq 40); do msg "ORD$p" "O${p}_$k"; done
done >"$TMP/order.hl7"
replay --connections 8 "$TMP/order.hl7" >/dev/null 2>&1
check "order: exit 0, 400 stored" sh -c "[ $? -eq 0 ] && [ $(stored 'O%\_%') -eq 400 ]"
q "select control_id from labwatch.messages where control_id like 'O%\_%' order by id" >"$TMP/order.ids"
check "order: each patient's messages in file order" $PY -c "
import sys
last = {}
for l in open(sys.argv[1]):
    p, k = l.strip()[1:].split('_')
    if int(k) <= last.get(p, -1): sys.exit('patient %s: %s after %s' % (p, k, last[p]))
    last[p] = int(k)" "$TMP/order.ids"

# 4c. One patient with many messages in a row, between runs of patients
#     with one message each (ten rounds of 30 + 30), under --connections 8:
#     as fast as ACKs come (the patient stays bound to one connection
#     while its messages queue) and paced (--rate: each answered before
#     the next is read, so its connection is chosen anew each time, the
#     least loaded). Each patient's messages are stored in file order.
#     Control ID: run, patient, position in the file.
for run in B P; do
	at=0 # not i: oru sets it
	for round in 0 1 2 3 4 5 6 7 8 9; do
		for k in $(seq 30); do at=$((at + 1)); msg RUN "${run}_RUN_$at"; done
		for k in $(seq 30); do at=$((at + 1)); msg "ONE${round}_$k" "${run}_ONE${round}x${k}_$at"; done
	done >"$TMP/burst$run.hl7"
done
replay --connections 8 "$TMP/burstB.hl7" >/dev/null 2>&1
check "burst: exit 0, 600 stored" sh -c "[ $? -eq 0 ] && [ $(stored 'B\_%') -eq 600 ]"
replay --connections 8 --rate 400 "$TMP/burstP.hl7" >/dev/null 2>&1
check "burst, paced: exit 0, 600 stored" sh -c "[ $? -eq 0 ] && [ $(stored 'P\_%') -eq 600 ]"
for run in B P; do
	q "select control_id from labwatch.messages where control_id like '${run}\_%' order by id" >"$TMP/burst$run.ids"
	check "burst $run: each patient's messages stored in file order (RUN's 300 too)" $PY -c "
import sys
last, n = {}, {}
for l in open(sys.argv[1]):
    _, p, k = l.strip().split('_')
    if int(k) <= last.get(p, 0): sys.exit('patient %s: %s after %s' % (p, k, last[p]))
    last[p], n[p] = int(k), n.get(p, 0) + 1
if n.get('RUN') != 300 or len(n) != 301: sys.exit('patients %d, RUN %s' % (len(n), n.get('RUN')))" "$TMP/burst$run.ids"
done

# 4b. A message given up (AR after --retries) stops the run: nothing of
#     that patient after it is sent, exit 2, and the checkpoint stays
#     before it, so --resume against labwatchd stores the patient's
#     messages in file order. The server answers AR to GU2, AA otherwise.
cat >"$TMP/ar.py" <<'EOF2'
import socket, sys, threading
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
open(sys.argv[1] + ".port", "w").write("%d\n" % ls.getsockname()[1])
log = open(sys.argv[1], "a")
def serve(c):
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            return
        buf += d
        while b"\x1c\r" in buf:
            f, buf = buf.split(b"\x1c\r", 1)
            f = f.lstrip(b"\x0b")
            ctrl = f.split(b"\r")[0].split(b"|")[9].decode()
            log.write(ctrl + "\n")
            log.flush()
            code = "AR" if ctrl == "GU2" else "AA"
            msa = "MSA|%s|%s\r" % (code, ctrl)
            if ctrl == "GB1":
                msa = "NTE|1||no MSA\r"
            c.sendall(("\x0bMSH|^~\\&|LW|H|LIS|L|20261120||ACK|A%s|P|2.5\r"
                "%s\x1c\r" % (ctrl, msa)).encode())
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF2
$PY "$TMP/ar.py" "$TMP/ar.log" &
arpid=$!
i=0; while [ ! -s "$TMP/ar.log.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
{ for k in 1 2 3 4; do msg GUP "GU$k"; msg "GUO$k" "GO$k"; done; } >"$TMP/gu.hl7"
"$LW" replay --port "$(cat "$TMP/ar.log.port")" --timeout 5 --retries 1 --connections 1 --resume "$TMP/gu.ck" "$TMP/gu.hl7" >"$TMP/gu.out" 2>&1
check "given up: exit 2, says it stopped" sh -c "[ $? -eq 2 ] && grep -q 'stopped: a message was given up' '$TMP/gu.out'"
check "given up: nothing of the patient after it sent" sh -c "! grep -q '^GU[34]\$' '$TMP/ar.log' && [ \$(grep -c '^GU2\$' '$TMP/ar.log') -eq 2 ]"
# A reply without a usable MSA is no answer: resent, then given up (exit 2).
msg GBP GB1 >"$TMP/gb.hl7"
"$LW" replay --port "$(cat "$TMP/ar.log.port")" --timeout 5 --retries 1 "$TMP/gb.hl7" >"$TMP/gb.out" 2>&1
check "an ACK without MSA: resent, then given up, exit 2" sh -c "[ $? -eq 2 ] && [ \$(grep -c '^GB1\$' '$TMP/ar.log') -eq 2 ]"
kill $arpid 2>/dev/null
wait $arpid 2>/dev/null
replay --connections 4 --resume "$TMP/gu.ck" "$TMP/gu.hl7" >/dev/null 2>&1
check "given up: --resume stores the rest, exit 0" sh -c "[ $? -eq 0 ] && [ $(stored 'GU_') -eq 3 ]"
check "given up: the patient's messages stored in file order" test "$(q "select string_agg(control_id, ' ' order by id) from labwatch.messages where control_id like 'GU_'")" = "GU2 GU3 GU4"

# 5. TLS with a client certificate; without one, refused (exit 2).
msg F7 TLS1 >"$TMP/tls.hl7"
replay --port "$tport" --tls --ca "$TMP/ca.pem" --cert "$TMP/client.pem" --key "$TMP/client.key" "$TMP/tls.hl7" >"$TMP/tls.out" 2>&1
check "TLS with a client certificate: exit 0, stored" sh -c "[ $? -eq 0 ] && [ $(stored TLS1) -eq 1 ]"
msg F7 TLS2 >"$TMP/tls2.hl7"
replay --port "$tport" --tls --ca "$TMP/ca.pem" --retries 0 "$TMP/tls2.hl7" >/dev/null 2>&1
check "TLS without a client certificate: exit 2, not stored" sh -c "[ $? -eq 2 ] && [ $(rows TLS2) -eq 0 ]"

# The server's certificate is always verified, and must name the host:
# a wrong CA, no --ca (the system's CAs do not know the test CA) and a
# name it does not carry ("127.1" reaches 127.0.0.1 but is not an IP
# literal, so it is checked as a DNS name) each fail, exit 2, nothing
# stored; by IP address (IP:127.0.0.1) and by name (DNS:localhost) pass.
# rogue.pem: a CA of the same name as the test CA, another key.
tls_pki "rogue:Test CA"
tlsr() { replay --port "$tport" --tls --cert "$TMP/client.pem" --key "$TMP/client.key" --retries 0 "$@"; }
msg F7 TLSCA >"$TMP/tlsca.hl7"
tlsr --ca "$TMP/rogue.pem" "$TMP/tlsca.hl7" >"$TMP/tlsca.out" 2>&1
check "TLS: a server certificate of another CA: exit 2, not stored" sh -c "[ $? -eq 2 ] && [ $(rows TLSCA) -eq 0 ]"
tlsr "$TMP/tlsca.hl7" >/dev/null 2>&1
check "TLS: without --ca the system's CAs: exit 2, not stored" sh -c "[ $? -eq 2 ] && [ $(rows TLSCA) -eq 0 ]"
msg F7 TLSNAME >"$TMP/tlsname.hl7"
tlsr --host 127.1 --ca "$TMP/ca.pem" "$TMP/tlsname.hl7" >"$TMP/tlsname.out" 2>&1
check "TLS: a certificate not naming the host: exit 2, not stored" sh -c "[ $? -eq 2 ] && [ $(rows TLSNAME) -eq 0 ] && grep -q 'verify' '$TMP/tlsname.out'"
msg F7 TLSLH >"$TMP/tlslh.hl7"
tlsr --host localhost --ca "$TMP/ca.pem" "$TMP/tlslh.hl7" >/dev/null 2>&1
check "TLS: by name (DNS:localhost): exit 0, stored" sh -c "[ $? -eq 0 ] && [ $(stored TLSLH) -eq 1 ]"

# 6. Exit codes: usage and connection 2.
replay --bogus "$TMP/tls.hl7" >/dev/null 2>&1
check "usage: exit 2" test $? -eq 2
for bad in "--connections 1.5" "--connections 1e1" "--retries 2.5" "--max-size 1e6"; do
	# shellcheck disable=SC2086 # $bad: an option and its value
	replay $bad "$TMP/tls.hl7" >"$TMP/badnum.out" 2>&1
	check "usage: $bad refused, exit 2" sh -c "[ $? -eq 2 ] && grep -q 'bad ' '$TMP/badnum.out'"
done
replay "$TMP/nonexistent" >/dev/null 2>&1
check "missing input: exit 2" test $? -eq 2
replay --port 1 "$TMP/tls.hl7" >/dev/null 2>&1
check "connection refused: exit 2" test $? -eq 2

done_testing
