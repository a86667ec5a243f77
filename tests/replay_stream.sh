#!/bin/sh
# labwatch replay's inputs read as streams, and its exit code by ACK
# mode, against a fake MLLP peer (no PostgreSQL): a 70 MB archive, plain
# and gzip, replayed with bounded memory (peak RSS measured); a truncated
# gzip: the messages before the cut sent, an error naming the file and
# offset, exit 1; CA counted as accepted only when MSH-15/16 asked for
# enhanced mode; MSH-15 NE reported and not sent; labwatchd's own CA.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
replay() { "$LW" replay --timeout 10 --retries 1 "$@"; }
msg() { oru "$1" "$2" 20261120073000 "1742-6|NM|30|U/L|10-40"; }
# msh15 A16 ...: a message with MSH-15 (and MSH-16) valued
enh() { msg "$2" "$3" | sed "s/|P|2\.5\.1/|P|2.5.1|||$1/"; }

# The peer: answers every frame with MSA-1 $2 (AA, CA), logging MSH-10.
cat >"$TMP/peer.py" <<'EOF'
import socket, sys, threading
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
log = open(sys.argv[1], "a")
lock = threading.Lock()
def serve(c):
    buf = b""
    while True:
        d = c.recv(1 << 20)
        if not d:
            return
        buf += d
        while b"\x1c\r" in buf:
            f, buf = buf.split(b"\x1c\r", 1)
            ctrl = f.lstrip(b"\x0b").split(b"\r")[0].split(b"|")[9].decode()
            with lock:
                log.write(ctrl + "\n")
                log.flush()
            c.sendall(("\x0bMSH|^~\\&|LW|H|LIS|L|20261120||ACK|A%s|P|2.5\r"
                "MSA|%s|%s\r\x1c\r" % (ctrl, sys.argv[2], ctrl)).encode())
open(sys.argv[1] + ".port", "w").write("%d\n" % ls.getsockname()[1])
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
peers=
peer() { # peer NAME CODE: start a peer, its port in $pport
	$PY "$TMP/peer.py" "$TMP/$1.log" "$2" &
	peers="$peers $!"
	i=0; while [ ! -s "$TMP/$1.log.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	pport=$(cat "$TMP/$1.log.port")
}
cleanup() {
	for p in $peers; do kill "$p" 2>/dev/null; done
	[ -f "$TMP/d.pid" ] && kill "$(cat "$TMP/d.pid")" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
peer aa AA
aaport=$pport
peer ca CA
caport=$pport

# 1. A 70 MB archive of 100 messages of 700 KB (a long NTE each; gzip
#    makes 0.2 MB of it) replayed with bounded memory: a whole input in
#    memory would be 70 MB and more (the old reader's peak: 140 MB for
#    the gzip, 70 MB mapped for the plain file).
$PY -c "
import sys
note = 'NTE|1||' + 'x' * 700000 + '\r'
for i in range(100):
    sys.stdout.write('MSH|^~\\\\&|LIS|L|LW|H|20261120||ORU^R01|BIG%d|P|2.5.1\r'
        'PID|1||BP%d^^^HOSP^MR\r' % (i, i % 7) + note)
" >"$TMP/big.hl7"
gzip -c "$TMP/big.hl7" >"$TMP/big.gz"
rss() { sed -n 's/^rss \([0-9]*\)$/\1/p' "$1"; }
# Under ASan, freed memory waits in a quarantine (256 MB by default): not
# what this measures.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1"
export ASAN_OPTIONS
for f in big.hl7 big.gz; do
	/usr/bin/time -f "rss %M" "$LW" replay --port "$aaport" --connections 4 "$TMP/$f" >"$TMP/$f.out" 2>&1
	st=$?
	check "stream $f: exit 0, 100 messages accepted" sh -c "[ $st -eq 0 ] && grep -q 'AA 100;' '$TMP/$f.out'"
	check "stream $f: peak RSS under 55 MB (was $(rss "$TMP/$f.out") KB)" test "$(rss "$TMP/$f.out")" -lt 56320
done
check "stream: every message reached the peer twice (plain, gzip)" test "$(grep -c '^BIG' "$TMP/aa.log")" -eq 200
/usr/bin/time -f "rss %M" "$LW" parse "$TMP/big.gz" >"$TMP/parse.json" 2>"$TMP/parse.err"
check "parse of the gzip streams too: 100 messages, peak RSS under 30 MB ($(rss "$TMP/parse.err") KB)" sh -c "[ \$(wc -l <'$TMP/parse.json') -eq 100 ] && [ $(rss "$TMP/parse.err") -lt 30720 ]"
rm -f "$TMP/big.hl7" "$TMP/big.gz" "$TMP/parse.json"
: >"$TMP/aa.log"

# 2. A truncated gzip: the whole messages before the cut are sent, the
#    error names the file and the offset of the message cut short, exit 1.
"$top_builddir/bench/gen_oru" -n 300 -s 11 >"$TMP/t.hl7" 2>/dev/null
gzip -c "$TMP/t.hl7" >"$TMP/t.full.gz"
head -c $(($(wc -c <"$TMP/t.full.gz") * 6 / 10)) "$TMP/t.full.gz" >"$TMP/t.gz"
# what gzip itself recovers: the messages that end before its end
gzip -dc "$TMP/t.gz" 2>/dev/null | $PY -c "
import sys, re
d = sys.stdin.buffer.read()
starts = [m.start() for m in re.finditer(rb'(?:^|(?<=[\r\n]))MSH\|', d)]
print(len(starts) - 1, starts[-1])" >"$TMP/t.want"
read -r want_n want_off <"$TMP/t.want"
replay --port "$aaport" "$TMP/t.gz" >"$TMP/t.out" 2>&1
st=$?
check "truncated gzip: exit 1" test $st -eq 1
check "truncated gzip: the $want_n messages before the cut sent" test "$(wc -l <"$TMP/aa.log")" -eq "$want_n"
check "truncated gzip: error names the file and offset $want_off" grep -q "t.gz: offset $want_off: gzip data truncated" "$TMP/t.out"
check "truncated gzip: counted as broken input" grep -q "broken input 1" "$TMP/t.out"
"$LW" parse "$TMP/t.gz" >"$TMP/t.json" 2>"$TMP/t.perr"
check "truncated gzip, parse: the messages before the cut, the error, exit 2" sh -c "[ $? -eq 2 ] && [ \$(wc -l <'$TMP/t.json') -eq $want_n ] && grep -q 't.gz: offset $want_off: gzip data truncated' '$TMP/t.perr'"
printf 'MSH|^~\\&|not gzip after the magic' | gzip -c | head -c 12 >"$TMP/tiny.gz"
replay --port "$aaport" "$TMP/tiny.gz" >"$TMP/tiny.out" 2>&1
check "truncated gzip header: exit 1, offset 0" sh -c "[ $? -eq 1 ] && grep -q 'tiny.gz: offset 0: gzip data truncated' '$TMP/tiny.out'"
{ msg P1 GZC1; } | gzip -c >"$TMP/corrupt.gz"
printf 'garbage' >>"$TMP/corrupt.gz"
: >"$TMP/aa.log"
replay --port "$aaport" "$TMP/corrupt.gz" >"$TMP/corrupt.out" 2>&1
check "gzip with garbage after it: the message sent, corrupt data reported after it, exit 1" sh -c "[ $? -eq 1 ] && grep -q '^GZC1\$' '$TMP/aa.log' && grep -q 'corrupt.gz: offset [0-9]*: gzip data corrupt' '$TMP/corrupt.out'"

# 3. CA is an acceptance only when the message asked for enhanced mode
#    (MSH-15 or MSH-16 valued); AA always is. MSH-15 NE (or ER): an
#    accepted message gets no ACK, so replay cannot know it was stored:
#    reported with its offset, not sent, exit 1.
: >"$TMP/ca.log"
msg P2 CAO1 >"$TMP/orig.hl7"
replay --port "$caport" "$TMP/orig.hl7" >"$TMP/cao.out" 2>&1
check "CA to an original-mode message: exit 1, said so" sh -c "[ $? -eq 1 ] && grep -q 'offset 0: CA to a message in original mode' '$TMP/cao.out' && grep -q 'CA to original mode 1' '$TMP/cao.out'"
enh AL P2 CAE1 >"$TMP/enh.hl7"
enh '|AL' P2 CAE2 >>"$TMP/enh.hl7"
replay --port "$caport" "$TMP/enh.hl7" >"$TMP/cae.out" 2>&1
check "CA to enhanced-mode messages (MSH-15 AL; MSH-16 alone): exit 0" sh -c "[ $? -eq 0 ] && grep -q 'CA 2;' '$TMP/cae.out'"
replay --port "$aaport" "$TMP/enh.hl7" >/dev/null 2>&1
check "AA to enhanced-mode messages: exit 0" test $? -eq 0
: >"$TMP/aa.log"
{ msg P3 NE0; enh 'NE|AL' P3 NE1; enh ER P3 NE2; enh SU P3 NE3; } >"$TMP/ne.hl7"
off=$(msg P3 NE0 | wc -c)
replay --port "$aaport" "$TMP/ne.hl7" >"$TMP/ne.out" 2>&1
check "MSH-15 NE/ER: exit 1, reported with offset, not sent" sh -c "[ $? -eq 1 ] && grep -q 'ne.hl7: offset $off: MSH-15 asks for no accept ACK' '$TMP/ne.out' && [ \"\$(tr '\n' ' ' <'$TMP/aa.log')\" = 'NE0 NE3 ' ]"

# labwatchd itself (spooling, no database): CA to MSH-15 AL, exit 0.
nodb_conf >"$TMP/d.conf"
printf 'listen = 127.0.0.1:0\nstart_timeout = 1s\nlog_level = info\n' >>"$TMP/d.conf"
lwd_start d "$TMP/d.conf"
{ enh AL P4 LWE1; msg P4 LWO1; } >"$TMP/lw.hl7"
replay --port "$port" "$TMP/lw.hl7" >"$TMP/lw.out" 2>&1
check "labwatchd: CA to the enhanced message, AA to the other, exit 0" sh -c "[ $? -eq 0 ] && grep -q 'AA 1 CA 1;' '$TMP/lw.out'"
# A sender whose frames each arrive whole in one read has started: it
# was closed start_timeout after connecting however many frames it had
# sent (replay resent every minute, python-hl7's mllp_send died).
for k in $(seq 12); do msg P5 "ST$k"; done >"$TMP/st.hl7"
replay --port "$port" --connections 1 --rate 4 "$TMP/st.hl7" >"$TMP/st.out" 2>&1
check "labwatchd: a steady sender outlives start_timeout (no resend, not closed)" sh -c "[ $? -eq 0 ] && grep -q 'resent 0,' '$TMP/st.out' && ! grep -q 'no frame started' '$TMP/d.log'"
lwd_stop d

done_testing
