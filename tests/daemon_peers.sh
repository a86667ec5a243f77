#!/bin/sh
# daemon_peers.sh: labwatchd against slow, idle and hostile peers, with
# real sockets and no PostgreSQL (the store spools, as in daemon_net.sh).
# Each case is a defect of issue 9 and failed on the code before its fix:
# deadlines that a byte every few hundred ms no longer defeats; 300 slow
# and idle connections from 75 addresses while a good sender stays served
# at the default limits; log lines counted under refusal floods (plain and
# TLS); TLS refusals in words; the intermediate TLS profile (CBC and
# static-RSA clients refused); a TLS ClientHello on the plain port; a
# frame over 64 KiB; libevent's messages and the open-file limit in the
# daemon's log; TCP keepalive. The full 1,000 + 1,000 run is
# bench/slow_peers (figures in BENCHMARKS.md).
# LABWATCHD=path overrides the binary.
. "$(dirname "$0")/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
[ -x "$LABWATCHD" ] || { echo "SKIP: no $LABWATCHD"; exit 77; }
# The mass case holds a few hundred sockets on each side.
ulimit -n 4096 2>/dev/null || true

cat >"$TMP/peer.py" <<'PY'
import selectors, socket, ssl, subprocess, sys, threading, time

SB, EB = b"\x0b", b"\x1c\r"

def frame(cid, extra=b""):
    return (SB + b"MSH|^~\\&|LIS|GENHOSP|LABWATCH|ONC|20240311083000||ORU^R01^ORU_R01|"
            + cid.encode() + b"|P|2.5.1\rPID|1||MRN123456^^^GENHOSP^MR||DOE^JANE\r"
            + b"OBX|1|NM|1742-6^ALT^LN||88|U/L|7-56|H|||F\r" + extra + EB)

pending = {}				# socket -> bytes read past the last ACK

def ack(s, timeout=10):
    """One ACK: (code, control id), or None when the peer closed."""
    s.settimeout(timeout)
    buf = pending.pop(s, b"")
    while EB not in buf:
        d = s.recv(65536)
        if not d:
            return None
        buf += d
    f, pending[s] = buf.split(EB, 1)
    msa = [x for x in f.split(b"\r") if x.startswith(b"MSA|")][0].split(b"|")
    return (msa[1].decode(), msa[2].decode())

def conn(port, src="127.0.0.1"):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s

def closed(s, wait):
    s.settimeout(wait)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def expect(cond, what):
    if not cond:
        print("expected:", what)
        sys.exit(1)

def trickle(s, data, every, limit):
    """Send data a byte at a time; seconds until the daemon closed s (or limit)."""
    t0 = time.time()
    s.setblocking(False)
    i = 0
    while time.time() - t0 < limit:
        try:
            if s.recv(100) == b"":
                return time.time() - t0
        except BlockingIOError:
            pass
        except ConnectionResetError:
            return time.time() - t0
        try:
            s.send(data[i % len(data):i % len(data) + 1])
        except (BrokenPipeError, ConnectionResetError):
            return time.time() - t0
        i += 1
        time.sleep(every)
    return None

def tls_ctx(d, cert=None, **kw):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=d + "/ca.pem")
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(d + "/" + cert + ".pem", d + "/" + cert + ".key")
    return ctx

def tls_try(port, d, cert=None, src="127.0.0.1"):
    """A handshake and one frame: the ACK, or None when refused."""
    try:
        s = tls_ctx(d, cert).wrap_socket(conn(port, src))
        s.sendall(frame("T1"))
        return ack(s, 5)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
        return None

cmd, port = sys.argv[1], int(sys.argv[2])
if cmd == "big":			# a frame over 64 KiB, then another
    s = conn(port)
    s.sendall(frame("BIG1", b"NTE|1||" + b"x" * 100000 + b"\r") + frame("AFTER"))
    a = [ack(s), ack(s)]
    expect(a == [("AA", "BIG1"), ("AA", "AFTER")], "AA AA, got %r" % a)
    s.close()
elif cmd == "slowloris":		# a frame at a byte every 0.25 s: frame_timeout 2 s
    t = trickle(conn(port), frame("SLOW"), 0.25, 6)
    expect(t is not None and t < 4, "closed within frame_timeout of the first byte, got %r" % t)
elif cmd == "junk-trickle":		# bytes outside frames: start_timeout 2 s
    t = trickle(conn(port), b"\0", 0.25, 6)
    expect(t is not None and t < 4, "closed within start_timeout, got %r" % t)
elif cmd == "mass":			# NADDR addresses x PER conns, half slow, half idle
    naddr, per, secs = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    sel = selectors.DefaultSelector()
    slow = {}				# socket -> (src, is_slow, bytes sent)
    opened = [0]
    def open_one(src, is_slow):
        s = socket.socket()
        s.setblocking(False)
        s.bind((src, 0))
        s.connect_ex(("127.0.0.1", port))
        sel.register(s, selectors.EVENT_READ, (src, is_slow))
        slow[s] = 0
        opened[0] += 1
    srcs = ["127.0.%d.%d" % (1 + i // 200, 10 + i % 200) for i in range(naddr)]
    for src in srcs:
        for k in range(per):
            open_one(src, k % 2 == 0)
    good = {"acks": 0, "bad": [], "lat": []}
    def good_sender():
        time.sleep(1)			# the attack is in place
        n = 0
        t_end = time.time() + secs - 1.5
        s = conn(port)
        while time.time() < t_end:
            n += 1
            if n % 5 == 0:		# new connections get in too
                s.close()
                s = conn(port)
            t0 = time.time()
            try:
                s.sendall(frame("G%d" % n))
                a = ack(s, 5)
            except OSError as e:
                a = repr(e)
            good["lat"].append(time.time() - t0)
            if a == ("AA", "G%d" % n):
                good["acks"] += 1
            else:
                good["bad"].append(a)
                s = conn(port)
            time.sleep(0.05)
    g = threading.Thread(target=good_sender)
    g.start()
    t_end = time.time() + secs
    payload = frame("X")
    while time.time() < t_end:
        for key, _ in sel.select(0.1):
            s = key.fileobj
            try:
                d = s.recv(4096)
            except (BlockingIOError, ConnectionRefusedError):
                continue
            except OSError:
                d = b""
            if d == b"":		# closed by the daemon: come back
                sel.unregister(s); del slow[s]; s.close()
                open_one(*key.data)
        for s, (src, is_slow) in [(k.fileobj, k.data) for k in sel.get_map().values()]:
            if is_slow:
                try:
                    s.send(payload[slow[s] % len(payload):][:1])
                    slow[s] += 1
                except OSError:
                    pass
        time.sleep(0.4)
    g.join()
    lat = sorted(good["lat"])
    print("attack: %d addresses, %d connections held, %d opened in all" % (naddr, naddr * per, opened[0]))
    print("good sender: %d AA, %d not, latency median %.1f ms, max %.1f ms" % (
        good["acks"], len(good["bad"]), 1000 * lat[len(lat) // 2], 1000 * lat[-1]))
    expect(good["acks"] >= 10 and not good["bad"], "every frame of the good sender ACKed AA: %r" % good["bad"][:3])
elif cmd == "held-then-refused":	# from SRC: hold LIMIT, then N more are refused
    src, limit, n = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    held = [conn(port, src) for _ in range(limit)]
    for h in held:
        h.sendall(frame("H"))
        expect(ack(h) == ("AA", "H"), "held connection served")
    for _ in range(n):
        expect(closed(conn(port, src), 5), "refused")
elif cmd == "keepalive":		# hold one connection open while ss looks
    s = conn(port)
    s.sendall(frame("K1")); expect(ack(s) == ("AA", "K1"), "AA")
    open(sys.argv[3], "w").close()
    time.sleep(1)
elif cmd == "clienthello":		# what a TLS client sends first, on the plain port
    s = conn(port)
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.wrap_socket(s, do_handshake_on_connect=True)
        expect(False, "no TLS handshake on the plain port")
    except (ssl.SSLError, OSError):
        pass
elif cmd == "tls-ok":
    expect(tls_try(port, sys.argv[3], "lis01") == ("AA", "T1"), "AA over TLS")
elif cmd == "tls-refused":		# CERT ("-": none) is refused
    cert = None if sys.argv[4] == "-" else sys.argv[4]
    expect(tls_try(port, sys.argv[3], cert) is None, "refused")
elif cmd == "tls-old":			# a TLS 1.1 client
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.minimum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.wrap_socket(conn(port)).sendall(b"x")
        expect(False, "TLS 1.1 refused")
    except (ssl.SSLError, OSError):
        pass
elif cmd == "tls-flood":		# N handshakes without a certificate from SRC
    d, src, n = sys.argv[3], sys.argv[4], int(sys.argv[5])
    for _ in range(n):
        expect(tls_try(port, d, None, src) is None, "refused")
elif cmd == "tls-dirty":		# served, then closed without close_notify
    s = tls_ctx(sys.argv[3], "lis01").wrap_socket(conn(port))
    s.sendall(frame("D1")); expect(ack(s) == ("AA", "D1"), "AA")
    s.close()				# no unwrap(): no close_notify
    time.sleep(0.3)
PY

PYT="$PY $TMP/peer.py"
cd "$TMP"

base() {	# the configuration all cases share; defaults for every limit
	nodb_conf
	cat <<EOF
spool_max_bytes = 64M
max_message_size = 1M
frame_timeout = 2s
start_timeout = 2s
idle_timeout = 10s
log_level = info
EOF
}

# --- plain: started with a low soft open-file limit, libevent asked to speak
{ base; echo "listen = 127.0.0.1:0"; } >"$TMP/p.conf"
(ulimit -Sn 256 && exec env EVENT_SHOW_METHOD=1 "$LABWATCHD" -c "$TMP/p.conf") 2>"$TMP/p.log" &
echo $! >"$TMP/p.pid"
for _ in $(seq 300); do grep -q "ready" "$TMP/p.log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/p.log" | head -1)
if [ -z "$port" ]; then
	not_ok "labwatchd starts" "$(tail -5 "$TMP/p.log")"
	done_testing; exit 1
fi
check "open-file soft limit raised for max_connections" grep -q "open-file limit raised from 256 to" "$TMP/p.log"
check "libevent's messages in the daemon's log, with a level" grep -q " info: libevent: libevent using: " "$TMP/p.log"

check "a TLS ClientHello on the plain port is closed" $PYT clienthello "$port"
check "... with one line" test "$(log_lines p "ClientHello")" -eq 1
check "... and no frame made of it" test "$(log_lines p "frame cut short|quarantined|abandoned")" -eq 0
check "a frame over 64 KiB, then another: AA, AA" $PYT big "$port"
check "slowloris: a frame trickling a byte every 0.25 s is closed at frame_timeout" $PYT slowloris "$port"
check "junk trickling outside frames is closed at start_timeout" $PYT junk-trickle "$port"
rm -f "$TMP/held"
$PYT keepalive "$port" "$TMP/held" &
kp=$!
for _ in $(seq 50); do [ -e "$TMP/held" ] && break; sleep 0.1; done
ss -tnoH state established "( sport = :$port )" >"$TMP/ss.out" 2>&1
wait $kp
check "TCP keepalive probes after 60 s, not the kernel's 2 hours" grep -qE "keepalive,([0-9]+sec|1min)" "$TMP/ss.out"


check "max_connections_per_peer: 16 held, 200 refused" $PYT held-then-refused "$port" 127.0.3.1 16 200
log_at_most p "127\\.0\\.3\\.1:.*refused" 2 "... 200 refusals write a handful of lines"

# 75 addresses x 4 connections (half trickling frames, half silent), coming
# back as soon as they are closed, for 6 s, at the default limits.
$PYT mass "$port" 75 4 6 >"$TMP/mass.out" 2>&1
mass=$?
cat "$TMP/mass.out"
if [ $mass -eq 0 ]; then ok "300 slow and idle connections from 75 addresses: the good sender is served"; else
	not_ok "300 slow and idle connections from 75 addresses: the good sender is served" "$(tail -3 "$TMP/mass.out")"; fi
# Five or six kinds come of it (connected, start_timeout, frame_timeout, a
# first frame cut short, a reset; on a slow machine a close before the
# first byte too): one line each, however often it reconnects.
log_per_kind p "127\\.0\\.1\\.10" "... one address's 4 connections, reopened for 6 s, write a line per kind at most"
check "... none refused by max_connections" test "$(log_lines p "refused: max_connections \\(")" -eq 0


lwd_stop p
check "a frame over 64 KiB leaves no byte outside frames" test "$(log_lines p "outside frames")" -eq 0
check "the summary at exit counts the refusals left out" grep -qE "127\\.0\\.3\\.1: 199 more like this in [0-9]+s: refused: max_connections_per_peer" "$TMP/p.log"
check "no patient data in the log" no_patient_data 'MRN123456|DOE|JANE' "$TMP/p.log"

# --- TLS
if ! command -v openssl >/dev/null; then
	not_ok "TLS tests need the openssl command (package openssl)"
	done_testing; exit
fi
tls_pki
now=$(date -u +%Y%m%d%H%M%SZ)
day=$(date -u -d tomorrow +%Y%m%d%H%M%SZ)
tls_cert server localhost ca 20200101000000Z "$day" rsa
tls_cert lis01 lis01 ca 20200101000000Z "$day"
tls_cert other other ca 20200101000000Z "$day"
tls_cert expired lis01 ca 20200101000000Z 20200201000000Z
tls_cert future lis01 ca 20990101000000Z 20991231000000Z
tls_cert rogue lis01 rogueca 20200101000000Z "$day"
{ base; cat <<EOF; } >"$TMP/t.conf"
listen =
tls_listen = 127.0.0.1:0
tls_cert = $TMP/server.pem
tls_key = $TMP/server.key
tls_ca = $TMP/ca.pem
tls_verify_client = require
tls_allowed_subjects = CN=lis01
EOF
lwd_start t "$TMP/t.conf"
check "TLS: the allowed client is served" $PYT tls-ok "$port" "$TMP"
for c in "expired:client certificate expired (CN=lis01)" \
    "future:client certificate not yet valid (CN=lis01)" \
    "rogue:client certificate from an unknown CA (not tls_ca) (CN=lis01)" \
    "-:no client certificate" \
    "other:client certificate subject not in tls_allowed_subjects (CN=other)"; do
	cert=${c%%:*} why=${c#*:}
	check "TLS refused: $why" $PYT tls-refused "$port" "$TMP" "$cert"
	check "... said in words" grep -qF "closed: $why" "$TMP/t.log"
done
check "TLS 1.1 refused" $PYT tls-old "$port"
check "... said in words" grep -q "closed: protocol version too old (TLS 1.1; TLS 1.2 is the minimum)" "$TMP/t.log"
check "no OpenSSL error codes in the log" test "$(log_lines t "error:[0-9A-F]{8}|lib\\(0\\)")" -eq 0

# Mozilla intermediate: these suites are offered alone and must be refused.
sclient() {	# sclient ARGS...: did a handshake succeed?
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$TMP/ca.pem" \
	    -cert "$TMP/lis01.pem" -key "$TMP/lis01.key" "$@" >"$TMP/sc.out" 2>&1
	grep -q "^New, TLSv1.[23], Cipher is [A-Z]" "$TMP/sc.out"
}
for cipher in AES128-SHA AES256-SHA256 AES128-GCM-SHA256 ECDHE-RSA-AES128-SHA ECDHE-RSA-AES256-SHA384; do
	if sclient -tls1_2 -cipher "$cipher:@SECLEVEL=0"; then
		not_ok "TLS 1.2 with only $cipher (static RSA or CBC) is refused" "$(grep Cipher "$TMP/sc.out")"
	else ok "TLS 1.2 with only $cipher (static RSA or CBC) is refused"; fi
done
check "... said in words" grep -q "closed: no cipher suite in common" "$TMP/t.log"
check "TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256 is accepted" sclient -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256
check "... and no session ticket is issued" sh -c '! grep -q "TLS session ticket" "$0"' "$TMP/sc.out"
check "TLS 1.3 is accepted" sclient -tls1_3

# Refused handshakes are not connections, and 200 of them write a handful of lines.
check "200 handshakes without a certificate from one address: all refused" $PYT tls-flood "$port" "$TMP" 127.0.4.1 200
log_at_most t "127\\.0\\.4\\.1" 2 "... a handful of lines"
check "... none logged as connected" test "$(log_lines t "127\\.0\\.4\\.1.*connected")" -eq 0
check "a client closing without close_notify: served" $PYT tls-dirty "$port" "$TMP"
check "... its close is not an error" test "$(log_lines t "unexpected eof| error: ")" -eq 0
lwd_stop t
check "the summary at exit counts the TLS refusals left out" grep -qE "127\\.0\\.4\\.1: 199 more like this in [0-9]+s: closed: no client certificate" "$TMP/t.log"
done_testing
