#!/bin/sh
# daemon_net.sh: labwatchd's network side and operations, no PostgreSQL
# needed: the database is unreachable on purpose, so the store spools and
# ACKs AA (with a real database the same cases hold). Covers MLLP quirks on
# the wire, oversize AR on a connection that stays usable, ACK order under
# backpressure, allow-list and connection limits, frame and idle timeouts,
# TLS (client certificate required, wrong CA, wrong subject), SIGHUP reload
# without dropping connections, SIGTERM with frames in flight, sd_notify
# (READY, RELOADING, STOPPING, STATUS, WATCHDOG) on a socket the test binds,
# --check-config and the example file, memory per idle connection.
# LABWATCHD=path overrides the binary.
. "$(dirname "$0")/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
[ -x "$LABWATCHD" ] || { echo "SKIP: no $LABWATCHD"; exit 77; }

cat >"$TMP/t.py" <<'PY'
import os, socket, ssl, sys, time

SB, EB = b"\x0b", b"\x1c\r"

def msg(cid, term=b"\r"):
    return term.join([
        b"MSH|^~\\&|LIS|GENHOSP|LABWATCH|ONC|20240311083000||ORU^R01^ORU_R01|" + cid.encode() + b"|P|2.5.1",
        b"PID|1||MRN123456^^^GENHOSP^MR||DOE^JANE||19650412|F",
        b"OBR|1|ORD4471|FIL8812|24323-8^CMP^LN|||20240311070500",
        b"OBX|1|NM|1742-6^ALT^LN||88|U/L|7-56|H|||F|||20240311081500", b""])

def frame(cid, term=b"\r"):
    return SB + msg(cid, term) + EB

def acks(s, n, timeout=10):
    """Read n ACKs; return [(code, control id)]."""
    s.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        d = s.recv(65536)
        if not d:
            break
        buf += d
        while EB in buf:
            f, buf = buf.split(EB, 1)
            f = f.lstrip(b"\n\x0b")
            msa = [x for x in f.split(b"\r") if x.startswith(b"MSA|")][0].split(b"|")
            out.append((msa[1].decode(), msa[2].decode() if len(msa) > 2 else ""))
    return out

def conn(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)

def closed_without_data(s, wait=5):
    s.settimeout(wait)
    try:
        d = s.recv(100)
    except ConnectionResetError:
        return True
    return d == b""

def expect(cond, what):
    if not cond:
        print("expected:", what)
        sys.exit(1)

def tls_conn(port, d, cert=None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=d + "/ca.pem")
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(d + "/" + cert + ".pem", d + "/" + cert + ".key")
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw)

cmd = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 0

if cmd == "notify-listen":		# bind NOTIFY_SOCKET, append datagrams to a file
    path, out = sys.argv[2], sys.argv[3]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(out, "ab", buffering=0) as f:
        while True:
            f.write(s.recv(4096).replace(b"\n", b" ") + b"\n")
elif cmd == "one":
    s = conn(port); s.sendall(frame("C1"))
    expect(acks(s, 1) == [("AA", "C1")], "AA C1")
elif cmd == "quirks":
    s = conn(port)
    # junk and NULs before 0x0B, LF and CRLF terminators, no final CR, trailing LF
    s.sendall(b"\0\0junk" + frame("Q1", b"\n") + SB + msg("Q2", b"\r\n") + b"\x1c" + frame("Q3") + b"\n")
    # one frame in 1-byte writes
    for b in frame("Q4"):
        s.send(bytes([b]))
    expect(acks(s, 4) == [("AA", "Q1"), ("AA", "Q2"), ("AA", "Q3"), ("AA", "Q4")], "4 AA in order")
elif cmd == "oversize":
    s = conn(port)
    big = SB + msg("BIG1")[:-1] + b"\rNTE|1||" + b"x" * 20000 + b"\r" + EB
    s.sendall(big + frame("AFTER"))
    a = acks(s, 2)
    expect(a == [("AR", "BIG1"), ("AA", "AFTER")], "AR then AA on the same connection, got %r" % a)
elif cmd == "pipeline":			# many frames without reading: backpressure, then order
    n = int(sys.argv[3])
    s = conn(port)
    data = b"".join(frame("P%d" % i) for i in range(n))
    s.setblocking(False)
    sent = 0
    t0 = time.time()
    while sent < len(data) and time.time() - t0 < 3:
        try:
            sent += s.send(data[sent:])
        except BlockingIOError:
            time.sleep(0.05)
    stalled = sent < len(data)
    s.setblocking(True)
    # read the ACKs while the rest is sent
    import threading
    t = threading.Thread(target=lambda: s.sendall(data[sent:]))
    t.start()
    a = acks(s, n, 30)
    t.join()
    expect([c for _, c in a] == ["P%d" % i for i in range(n)], "%d ACKs in order (got %d)" % (n, len(a)))
    print("stalled" if stalled else "not stalled")
elif cmd == "refused":
    s = conn(port)
    expect(closed_without_data(s), "closed at once")
elif cmd == "per-peer":			# limit is 3
    keep = [conn(port) for _ in range(3)]
    for k in keep:
        k.sendall(frame("K"))
        expect(acks(k, 1) == [("AA", "K")], "AA on an allowed connection")
    s = conn(port)
    expect(closed_without_data(s), "4th connection closed")
    keep[0].close(); time.sleep(0.3)
    s = conn(port); s.sendall(frame("K5"))
    expect(acks(s, 1) == [("AA", "K5")], "a slot freed")
elif cmd == "frame-timeout":		# frame_timeout 1 s
    s = conn(port)
    s.sendall(SB + b"MSH|^~\\&|LIS|GENHOSP|||20240311083000||ORU^R01|SLOW1|P|2.5.1\r")
    t0 = time.time()
    s.settimeout(5)
    d = b""
    while True:
        x = s.recv(4096)
        if not x:
            break
        d += x
    expect(time.time() - t0 < 4, "closed within the frame timeout")
elif cmd == "idle-timeout":		# idle_timeout 2 s, after a frame
    s = conn(port); s.sendall(frame("I1"))
    expect(acks(s, 1) == [("AA", "I1")], "AA")
    t0 = time.time()
    expect(closed_without_data(s, 6), "idle connection closed")
    expect(1.5 < time.time() - t0 < 5, "after about idle_timeout")
elif cmd == "start-timeout":		# start_timeout 2 s, nothing sent
    s = conn(port)
    t0 = time.time()
    expect(closed_without_data(s, 6), "silent connection closed")
    expect(1.5 < time.time() - t0 < 5, "after about start_timeout")
elif cmd == "keeps-sending":		# whole frames every 0.5 s for 3.5 s: past start_timeout (2 s)
    s = conn(port)
    for i in range(8):
        s.sendall(frame("K%d" % i))
        expect(acks(s, 1) == [("AA", "K%d" % i)], "AA for K%d on the same connection" % i)
        time.sleep(0.5)
elif cmd == "hold":			# open a connection, wait for a file, use it
    s = conn(port); s.sendall(frame("H1")); expect(acks(s, 1) == [("AA", "H1")], "AA before")
    open(sys.argv[3] + ".held", "w").close()
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.05)
    s.sendall(frame("H2")); expect(acks(s, 1) == [("AA", "H2")], "AA after the reload")
elif cmd == "inflight-term":		# send n frames, tell the shell, read all ACKs
    n, flag = int(sys.argv[3]), sys.argv[4]
    s = conn(port)
    s.sendall(b"".join(frame("T%d" % i) for i in range(n)))
    open(flag, "w").close()
    a = acks(s, n, 30)
    expect([c for _, c in a] == ["T%d" % i for i in range(n)] and all(x == "AA" for x, _ in a),
           "all %d ACKed after SIGTERM (got %d)" % (n, len(a)))
    s.settimeout(10)
    expect(s.recv(10) == b"", "then closed")
elif cmd == "idle-conns":		# open n connections, each sends one frame; hold
    n, flag = int(sys.argv[3]), sys.argv[4]
    cs = []
    for i in range(n):
        s = conn(port); s.sendall(frame("M%d" % i)); cs.append(s)
    for s in cs:
        expect(len(acks(s, 1)) == 1, "ACK")
    open(flag, "w").close()
    time.sleep(3)
elif cmd == "tls-ok":
    d = sys.argv[3]
    s = tls_conn(port, d, "lis01"); s.sendall(frame("TLS1"))
    expect(acks(s, 1) == [("AA", "TLS1")], "AA over TLS")
    expect(s.version() in ("TLSv1.2", "TLSv1.3"), "TLS 1.2+")
elif cmd in ("tls-nocert", "tls-wrongca", "tls-wrongcn"):
    d = sys.argv[3]
    cert = {"tls-nocert": None, "tls-wrongca": "rogue", "tls-wrongcn": "other"}[cmd]
    try:
        s = tls_conn(port, d, cert)
        s.sendall(frame("NO"))
        a = acks(s, 1, 5)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
        a = []
    expect(a == [], "no ACK without an allowed certificate, got %r" % a)
elif cmd == "tls12":			# TLS 1.1 refused
    d = sys.argv[3]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    except ValueError:
        pass
    try:
        ctx.wrap_socket(socket.create_connection(("127.0.0.1", port))).sendall(b"x")
        ok = False
    except (ssl.SSLError, OSError):
        ok = True
    expect(ok, "TLS 1.1 handshake refused")
PY

PYT="$PY $TMP/t.py"
cd "$TMP"

# --- the daemon under test
start() {	# start NAME CONF: NOTIFY_SOCKET bound by us, WATCHDOG for this pid
	name=$1
	rm -f "$TMP/$name.notify" "$TMP/$name.sock"
	$PYT notify-listen "$TMP/$name.sock" "$TMP/$name.notify" &
	echo $! >"$TMP/$name.npid"
	for _ in 1 2 3 4 5 6 7 8 9 10; do [ -S "$TMP/$name.sock" ] && break; sleep 0.1; done
	NOTIFY_SOCKET="$TMP/$name.sock" WATCHDOG_USEC=1000000 \
	    sh -c 'WATCHDOG_PID=$$ exec "$0" -c "$1"' "$LABWATCHD" "$2" 2>"$TMP/$name.log" &
	echo $! >"$TMP/$name.pid"
	for _ in $(seq 300); do grep -q "^READY=1" "$TMP/$name.notify" 2>/dev/null && break; sleep 0.1; done
	port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/$name.log" | head -1)
}
stop_notify() { kill "$(cat "$TMP/$1.npid")" 2>/dev/null; }
conf() {	# conf FILE EXTRA-LINES: the base below, EXTRA-LINES replacing keys they set
	{ nodb_conf; cat <<EOF; } >"$TMP/base.conf"
listen = 127.0.0.1:0
spool_max_bytes = 16M
max_message_size = 8k
idle_timeout = 2s
start_timeout = 2s
frame_timeout = 1s
max_connections_per_peer = 3
max_inflight = 8
output_buffer_max = 4k
log_level = debug
EOF
	printf '%s\n' "$2" >"$TMP/extra.conf"
	awk -F' *= *' 'NR == FNR { if ($1 != "") set[$1] = 1; next }
	    !($1 in set) { print }' "$TMP/extra.conf" "$TMP/base.conf" >"$1"
	cat "$TMP/extra.conf" >>"$1"
}

# --- configuration
check "example file is what --print-config-example writes" \
	sh -c '"$0" --print-config-example | cmp - "$1"' "$LABWATCHD" "$top_srcdir/daemon/labwatchd.conf.example"
conf "$TMP/a.conf" ""
check "--check-config accepts a valid file" "$LABWATCHD" --check-config -c "$TMP/a.conf"
printf 'listen = 1.2.3.4\nbogus = 1\n' >"$TMP/bad.conf"
if "$LABWATCHD" --check-config -c "$TMP/bad.conf" >"$TMP/cc.out" 2>&1; then
	not_ok "--check-config refuses a bad file" "exit 0"
elif grep -q "bad.conf:1: '1.2.3.4' is not host:port" "$TMP/cc.out" &&
    grep -q "bad.conf:2: unknown key 'bogus'" "$TMP/cc.out"; then
	ok "--check-config refuses a bad file with file:line"
else
	not_ok "--check-config refuses a bad file with file:line" "$(cat "$TMP/cc.out")"
fi

# --- plain MLLP
start a "$TMP/a.conf"
if [ -z "$port" ]; then
	not_ok "labwatchd starts" "$(tail -5 "$TMP/a.log")"
	done_testing; exit 1
fi
check "READY=1 with STATUS after the listeners are up" grep -q "^READY=1 STATUS=.*connections" "$TMP/a.notify"
check "one frame, AA" $PYT one "$port"
check "sender quirks: junk, LF/CRLF, no final CR, 1-byte writes; ACKs in order" $PYT quirks "$port"
check "oversize frame: AR, connection still usable" $PYT oversize "$port"
check "500 frames without reading ACKs: backpressure, all ACKed in order" $PYT pipeline "$port" 500
check "max_connections_per_peer: the 4th is closed" $PYT per-peer "$port"
check "frame_timeout closes a slow frame" $PYT frame-timeout "$port"
check "idle_timeout closes an idle connection after its frame" $PYT idle-timeout "$port"
check "start_timeout closes a connection that sends nothing" $PYT start-timeout "$port"
check "start_timeout spares a connection whose frames each came in one read" $PYT keeps-sending "$port"
sleep 1.2
check "WATCHDOG=1 pinged from the loop" grep -q "^WATCHDOG=1" "$TMP/a.notify"

# --- SIGHUP: a held connection survives; allow= applies to new ones
rm -f "$TMP/reloaded"
rm -f "$TMP/reloaded.held"
$PYT hold "$port" "$TMP/reloaded" >"$TMP/hold.out" 2>&1 &
hold=$!
# Reload only once the connection is held (its first AA in): a fixed
# sleep lost that race under ASan on a loaded machine.
for _ in $(seq 200); do
	[ -e "$TMP/reloaded.held" ] || ! kill -0 $hold 2>/dev/null && break
	sleep 0.05
done
conf "$TMP/a.conf" "allow = 192.0.2.0/24"
kill -HUP "$(cat "$TMP/a.pid")"
sleep 0.5
touch "$TMP/reloaded"
if wait $hold; then ok "SIGHUP keeps open connections"; else not_ok "SIGHUP keeps open connections" "$(cat "$TMP/hold.out")"; fi
check "RELOADING=1 then READY=1" sh -c 'grep -n "^RELOADING=1" "$0" && grep "^READY=1" "$0" | sed -n 2p | grep -q .' "$TMP/a.notify"
check "allow: a peer outside the list is closed before reading" $PYT refused "$port"
conf "$TMP/a.conf" "log_level = info
listen = 127.0.0.1:1"
kill -HUP "$(cat "$TMP/a.pid")"
sleep 0.5
check "reload back: allowed again" $PYT one "$port"
check "a key that needs a restart is reported and kept" grep -q "listen cannot change without a restart" "$TMP/a.log"
printf 'max_connections = lots\n' >>"$TMP/a.conf"
kill -HUP "$(cat "$TMP/a.pid")"
sleep 0.5
check "a bad file on SIGHUP is reported with file:line" grep -q "a.conf:[0-9]*: max_connections = lots" "$TMP/a.log"
check "a bad file on SIGHUP keeps the running configuration" $PYT one "$port"

# --- memory per idle connection (resident, after one frame each)
pid=$(cat "$TMP/a.pid")
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
rm -f "$TMP/held"
conf "$TMP/a.conf" "max_connections = 1000
max_connections_per_peer = 1000
idle_timeout = 60s"
kill -HUP "$pid"; sleep 0.3
$PYT idle-conns "$port" 300 "$TMP/held" &
idle=$!
for _ in $(seq 100); do [ -e "$TMP/held" ] && break; sleep 0.1; done
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
wait $idle; held=$?
per=$(( (rss1 - rss0) * 1024 / 300 ))
echo "resident memory per idle plain connection: $per bytes ($rss0 -> $rss1 KiB for 300)"
if [ $held -ne 0 ]; then
	not_ok "300 idle connections held"
elif [ "$per" -le 65536 ]; then ok "idle connection <= 64 KiB resident ($per bytes)"; else not_ok "idle connection <= 64 KiB resident" "$per bytes"; fi

# --- SIGTERM with frames in flight
rm -f "$TMP/sent"
$PYT inflight-term "$port" 200 "$TMP/sent" >"$TMP/term.out" 2>&1 &
client=$!
for _ in $(seq 100); do [ -e "$TMP/sent" ] && break; sleep 0.05; done
kill -TERM "$pid"
if wait $client; then ok "SIGTERM: every frame in flight ACKed, then closed"; else not_ok "SIGTERM: every frame in flight ACKed" "$(cat "$TMP/term.out")"; fi
wait "$pid"; rc=$?
if [ $rc -eq 0 ]; then ok "SIGTERM: exit 0"; else not_ok "SIGTERM: exit 0" "exit $rc; $(tail -3 "$TMP/a.log")"; fi
check "STOPPING=1 sent" grep -q "^STOPPING=1" "$TMP/a.notify"
stop_notify a
check "no patient data in the log" no_patient_data 'MRN123456|DOE|JANE' "$TMP/a.log"

# --- TLS
if command -v openssl >/dev/null; then
	mk() { tls_cert "$1" "$2" "$3" 20200101000000Z "$(tls_day)" rsa; } # mk NAME CN CA-NAME
	tls_pki
	mk server localhost ca; mk lis01 lis01 ca; mk other other ca; mk rogue lis01 rogueca
	conf "$TMP/b.conf" "listen =
tls_listen = 127.0.0.1:0
tls_cert = $TMP/server.pem
tls_key = $TMP/server.key
tls_ca = $TMP/ca.pem
tls_verify_client = require
tls_allowed_subjects = CN=lis01"
	check "--check-config loads the certificates" "$LABWATCHD" --check-config -c "$TMP/b.conf"
	start b "$TMP/b.conf"
	check "TLS: allowed client certificate, AA" $PYT tls-ok "$port" "$TMP"
	check "TLS: no client certificate, refused" $PYT tls-nocert "$port" "$TMP"
	check "TLS: certificate from another CA, refused" $PYT tls-wrongca "$port" "$TMP"
	check "TLS: subject not allowed, refused" $PYT tls-wrongcn "$port" "$TMP"
	check "TLS: 1.1 refused" $PYT tls12 "$port" "$TMP"
	# new certificates on SIGHUP, without a restart
	mk server localhost ca
	kill -HUP "$(cat "$TMP/b.pid")"; sleep 0.5
	check "TLS: certificates reloaded on SIGHUP" sh -c 'grep -q "reloaded: .* and certificates" "$0"' "$TMP/b.log"
	check "TLS: works after the reload" $PYT tls-ok "$port" "$TMP"
	kill -TERM "$(cat "$TMP/b.pid")"; wait "$(cat "$TMP/b.pid")"
	stop_notify b
else
	not_ok "TLS tests need the openssl command (package openssl)"
fi
done_testing
