#!/bin/sh
# daemon_tls.sh: TLS and access against a real labwatchd (issue 14, item 3),
# no PostgreSQL (the store spools, as in daemon_net.sh). Each refusal comes
# from its own loopback source address (127.0.5.N), so that its lines can
# be counted: exactly one line naming the peer and the reason, and no
# patient data (every client that gets as far as sending sends a frame
# with a recognisable patient id and name; neither may reach the log).
# Refused: an expired client certificate, one not yet valid, one from an
# unknown CA, none when required (and with tls_verify_client = optional,
# an expired one), a subject not on tls_allowed_subjects, a CN with a NUL
# inside that reads as an allowed one (or a newline and a forged log
# line), two CNs of which the first is an allowed one, a subject whose
# one-line form only looks like an allowed whole subject, one that is an
# allowed whole subject and 500 bytes more, a CN of 128 bytes whose first
# 127 are an allowed CN (neither may be cut to fit), TLS 1.0 and 1.1
# (openssl s_client and Python's ssl at security level 0), plaintext and
# HTTP on the TLS port, a TLS ClientHello on the plain port, 300 peers
# that close before a byte or after a byte outside frames on the plain
# port (one line, throttled, not none and not 300), peers that
# stall before a handshake or a frame, a peer outside allow, a connection
# over max_connections_per_peer, and clients refusing an expired server
# certificate (which labwatchd and --check-config warn about, as about
# one not yet valid). The cipher profile is Mozilla's "intermediate"
# without DHE: TLS 1.2 ECDHE with AES-GCM or ChaCha20, and TLS 1.3; CBC,
# static RSA, DHE and 3DES suites are refused. (The CNs with a NUL or a
# newline, and the long ones, need python3-cryptography: openssl req
# cannot write them; without the module they are a NOTE, with it a failure
# to make them fails.)
# LABWATCHD=path overrides the binary.
. "$(dirname "$0")/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
[ -x "$LABWATCHD" ] || { echo "SKIP: no $LABWATCHD"; exit 77; }
if ! command -v openssl >/dev/null; then
	not_ok "TLS tests need the openssl command (package openssl)"
	done_testing
	exit
fi

# The patient data every frame carries (PID-3 and PID-5).
PATIENT_ID=PATID7734129
PATIENT_NAME=ZEBEDEE

cat >"$TMP/tls.py" <<'PY'
import socket, ssl, sys, time, warnings

warnings.simplefilter("ignore", DeprecationWarning)	# TLS 1.0/1.1 on purpose
SB, EB = b"\x0b", b"\x1c\r"

def frame(cid):
    return (SB + b"MSH|^~\\&|LIS|GENHOSP|LABWATCH|ONC|20240311083000||ORU^R01^ORU_R01|"
            + cid.encode() + b"|P|2.5.1\rPID|1||PATID7734129^^^GENHOSP^MR||ZEBEDEE^QUINTUS"
            + b"||19650412|M\rOBX|1|NM|1742-6^ALT^LN||88|U/L|7-56|H|||F\r" + EB)

def conn(port, src):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s

def ack(s, timeout=5):
    """The ACK code, or None when the daemon closed first."""
    s.settimeout(timeout)
    buf = b""
    while EB not in buf:
        d = s.recv(65536)
        if not d:
            return None
        buf += d
    return [x for x in buf.split(b"\r") if x.startswith(b"MSA|")][0].split(b"|")[1].decode()

def closed(s, wait=5):
    """True when the daemon closes s within wait without a byte of MLLP."""
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return True
            if EB in d:
                return False
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False

def ctx(d, cert=None, ca="ca", lo=None, hi=None):
    c = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=d + "/" + ca + ".pem")
    c.check_hostname = False
    if cert:
        c.load_cert_chain(d + "/" + cert + ".pem", d + "/" + cert + ".key")
    if lo:
        c.set_ciphers("DEFAULT:@SECLEVEL=0")
        c.minimum_version, c.maximum_version = lo, hi
    return c

def tls(port, src, c):
    """Handshake, one frame: the ACK code, or the reason it failed."""
    try:
        s = c.wrap_socket(conn(port, src))
        s.sendall(frame("T" + src.split(".")[-1]))
        return ack(s) or "closed"
    except ssl.SSLError as e:
        return "ssl: " + (e.reason or str(e))
    except OSError as e:
        return "os: " + str(e)

def expect(cond, what):
    if not cond:
        print("expected:", what)
        sys.exit(1)

cmd, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = sys.argv[4] if len(sys.argv) > 4 else "."
if cmd in ("mkcn", "mksubj"):		# d/NAME.pem: CN or subject (a Python literal), signed by d/ca.pem
    import datetime
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    ca = x509.load_pem_x509_certificate(open(d + "/ca.pem", "rb").read())
    cak = serialization.load_pem_private_key(open(d + "/ca.key", "rb").read(), None)
    k = ec.generate_private_key(ec.SECP256R1())
    if cmd == "mkcn":
        rdns = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test"),
                x509.NameAttribute(NameOID.COMMON_NAME, eval(sys.argv[5]), _validate=False)]
    else:			# mksubj: a list of (NameOID attribute, value)
        rdns = [x509.NameAttribute(getattr(NameOID, a), v, _validate=False)
                for a, v in eval(sys.argv[5])]
    c = (x509.CertificateBuilder()
         .subject_name(x509.Name(rdns))
         .issuer_name(ca.subject).public_key(k.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(datetime.datetime(2020, 1, 1))
         .not_valid_after(datetime.datetime.now() + datetime.timedelta(days=1))
         .sign(cak, hashes.SHA256()))
    open(d + "/" + src + ".pem", "wb").write(c.public_bytes(serialization.Encoding.PEM))
    open(d + "/" + src + ".key", "wb").write(k.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
elif cmd == "served":			# CERT ("-": none): served AA
    r = tls(port, src, ctx(d, None if sys.argv[5] == "-" else sys.argv[5]))
    expect(r == "AA", "AA, got %r" % r)
elif cmd == "refused":			# CERT ("-": none): no ACK
    r = tls(port, src, ctx(d, None if sys.argv[5] == "-" else sys.argv[5]))
    expect(r != "AA", "refused, got %r" % r)
    print(r)
elif cmd == "server-expired":		# a verifying client, a server certificate expired
    r = tls(port, src, ctx(d, "lis01"))
    expect(r.startswith("ssl: CERTIFICATE_VERIFY_FAILED"), "the client refuses, got %r" % r)
elif cmd == "old":			# TLS 1.0 or 1.1 offered at security level 0
    v = {"1.0": ssl.TLSVersion.TLSv1, "1.1": ssl.TLSVersion.TLSv1_1}[sys.argv[5]]
    r = tls(port, src, ctx(d, "lis01", lo=v, hi=v))
    expect(r != "AA", "refused, got %r" % r)
    print(r)
elif cmd == "plaintext":		# an MLLP frame in clear on the TLS port
    s = conn(port, src)
    s.sendall(frame("P1"))
    expect(closed(s), "closed without an ACK")
elif cmd == "clienthello":		# a TLS client on the plain port
    c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE
    t0 = time.time()
    try:
        c.wrap_socket(conn(port, src)).sendall(frame("H1"))
        expect(False, "no TLS handshake on the plain port")
    except (ssl.SSLError, OSError):
        pass
    expect(time.time() - t0 < 5, "closed at once, not left to a timeout")
elif cmd == "stall":			# send HEX, then nothing: closed at start_timeout (3 s)
    s = conn(port, src)
    if sys.argv[4] != "-":
        s.sendall(bytes.fromhex(sys.argv[4]))
    t0 = time.time()
    expect(closed(s, 8), "closed")
    expect(2 < time.time() - t0 < 6, "at start_timeout, after %.1f s" % (time.time() - t0))
elif cmd == "raw":			# send BYTES (Python literal): closed without an ACK
    s = conn(port, src)
    s.sendall(eval(sys.argv[4]))
    expect(closed(s), "closed without an ACK")
elif cmd == "not-allowed":		# closed before anything is read
    s = conn(port, src)
    try:
        s.sendall(frame("N1"))
    except OSError:
        pass
    expect(closed(s), "closed without an ACK")
elif cmd == "many":			# N conns: send BYTES (a Python literal), half-close, closed
    data = eval(sys.argv[5])
    for i in range(int(sys.argv[4])):
        s = conn(port, src)
        if data:
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        expect(closed(s), "connection %d closed" % i)
        s.close()
elif cmd == "refused-then-served":	# N refused handshakes leave no slot taken
    for i in range(int(sys.argv[5])):
        r = tls(port, src, ctx(d))
        expect(r != "AA", "refused without a certificate, got %r" % r)
    time.sleep(0.2)
    r = tls(port, src, ctx(d, "lis01"))
    expect(r == "AA", "then served, got %r" % r)
elif cmd == "per-peer":			# hold LIMIT served, the next is closed
    limit = int(sys.argv[5])
    c = ctx(d, "lis01")
    held = []
    for i in range(limit):
        s = c.wrap_socket(conn(port, src))
        s.sendall(frame("K%d" % i))
        expect(ack(s) == "AA", "held connection %d served" % i)
        held.append(s)
    s = conn(port, src)
    try:
        s.sendall(frame("K"))
    except OSError:
        pass
    expect(closed(s), "connection %d closed" % (limit + 1))
PY
PYT="$PY $TMP/tls.py"
cd "$TMP"

# one_line NAME SRC REASON WHAT: NAME's log holds exactly one line naming
# SRC, and it says REASON (fixed string). Waits up to 2 s for the line.
one_line() {
	for _ in $(seq 20); do
		[ "$(log_lines "$1" "^.*$(echo "$2" | sed 's/\./\\./g'):[0-9]+[: ]")" -ge 1 ] && break
		sleep 0.1
	done
	grep -E "$(echo "$2" | sed 's/\./\\./g'):[0-9]+[: ]" "$TMP/$1.log" >"$TMP/one.out"
	if [ "$(wc -l <"$TMP/one.out")" -eq 1 ] && grep -qF -- "$3" "$TMP/one.out"; then
		ok "$4: one line ($(sed 's/^.*[0-9]: //' "$TMP/one.out"))"
	else
		not_ok "$4: one line naming $2 saying '$3'" "$(cat "$TMP/one.out")"
	fi
}
# case NAME WHAT SRC REASON CMD ARGS...: CMD refused, then one_line
refusal() {
	rf_name=$1 rf_what=$2 rf_src=$3 rf_why=$4
	shift 4
	check "$rf_what: refused" $PYT "$@"
	one_line "$rf_name" "$rf_src" "$rf_why" "... $rf_what"
}

tls_pki
day=$(date -u -d tomorrow +%Y%m%d%H%M%SZ)
tls_cert server localhost ca 20200101000000Z "$day" rsa
tls_cert oldserver localhost ca 20200101000000Z 20200201000000Z rsa
tls_cert lis01 lis01 ca 20200101000000Z "$day"
tls_cert other other ca 20200101000000Z "$day"
tls_cert expired lis01 ca 20200101000000Z 20200201000000Z
tls_cert future lis01 ca 20990101000000Z 20991231000000Z
tls_cert rogue lis01 rogueca 20200101000000Z "$day"
# lis02 is allowed by its whole subject; forged has one O holding
# "Test/OU=LIS", whose one-line form reads the same.
tls_cert lis02 /O=Test/OU=LIS/CN=lis02 ca 20200101000000Z "$day"
tls_cert forged '/O=Test\/OU=LIS/CN=lis02' ca 20200101000000Z "$day"
tls_cert twocn /O=Test/CN=lis01/CN=evil ca 20200101000000Z "$day"
# no_odd_cert WHAT: mkcn failed; a failure unless python3-cryptography is
# really missing (then a note: the cases are not run).
no_odd_cert() {
	if $PY -c "import cryptography" 2>/dev/null; then
		not_ok "a certificate with $1 (python3-cryptography is installed)" "$(tail -3 "$TMP/mkcn.out")"
	else
		echo "NOTE: no certificate with $1 (needs python3-cryptography): $(tail -1 "$TMP/mkcn.out")"
	fi
}
# A CN with a NUL inside, "lis01\0.evil", and one with a line of log
# inside: openssl req cannot write them.
if $PYT mkcn 0 nul "$TMP" '"lis01\x00.evil"' >"$TMP/mkcn.out" 2>&1 &&
    $PYT mkcn 0 nl "$TMP" '"lis01\n2026-01-01T00:00:00.000Z labwatchd[1] info: 10.9.9.9:1: connected"' >>"$TMP/mkcn.out" 2>&1; then
	have_nul=1
else
	have_nul=
	no_odd_cert "a NUL or a newline in its CN"
fi

# A subject that is the allowed /O=Test/OU=LIS/CN=lis02 and an OU of 500
# bytes (a one-line form cut at 512 bytes is the allowed one); a CN of
# 128 bytes of which the first 127 are allowed (a CN cut at 127 bytes).
cn127=$(printf '%0127d' 0 | tr 0 c)
if $PYT mksubj 0 longsubj "$TMP" '[("ORGANIZATION_NAME", "Test"), ("ORGANIZATIONAL_UNIT_NAME", "LIS"), ("COMMON_NAME", "lis02"), ("ORGANIZATIONAL_UNIT_NAME", "x" * 500)]' >"$TMP/mkcn.out" 2>&1 &&
    $PYT mkcn 0 longcn "$TMP" "\"$cn127\" + \"x\"" >>"$TMP/mkcn.out" 2>&1; then
	have_long=1
else
	have_long=
	no_odd_cert "a long subject or CN"
fi

conf() {	# conf SERVER-CERT: both listeners, client certificates required
	nodb_conf
	cat <<EOF
listen = 127.0.0.1:0
tls_listen = 127.0.0.1:0
tls_cert = $TMP/$1.pem
tls_key = $TMP/$1.key
tls_ca = $TMP/ca.pem
tls_verify_client = require
tls_allowed_subjects = CN=lis01, /O=Test/OU=LIS/CN=lis02, CN=$cn127
allow = 127.0.0.1, 127.0.5.0/24
max_connections_per_peer = 2
spool_max_bytes = 64M
start_timeout = 3s
frame_timeout = 3s
log_level = info
EOF
}
conf server >"$TMP/t.conf"
lwd_start t "$TMP/t.conf"
plain=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$TMP/t.log" | head -1)
tport=$tls_port
if [ -z "$plain" ] || [ -z "$tport" ]; then
	not_ok "labwatchd listens on a plain and a TLS port" "$(grep listening "$TMP/t.log")"
	lwd_stop t
	done_testing
	exit 1
fi

# Peers that stall, in the background while the rest runs (start_timeout 3 s):
# nothing on the TLS port; a ClientHello cut short on the TLS port; the
# first 2 bytes of one on the plain port (too few to tell TLS from MLLP).
hello=160301020001000100fc03
$PYT stall "$tport" 127.0.5.16 - >"$TMP/stall1.out" 2>&1 &
stall1=$!
$PYT stall "$tport" 127.0.5.17 $hello >"$TMP/stall2.out" 2>&1 &
stall2=$!
$PYT stall "$plain" 127.0.5.18 1603 >"$TMP/stall3.out" 2>&1 &
stall3=$!

check "the allowed client is served (AA), its frame holding patient data" \
	$PYT served "$tport" 127.0.5.1 "$TMP" lis01
refusal t "an expired client certificate" 127.0.5.2 \
	"closed: client certificate expired (CN=lis01)" refused "$tport" 127.0.5.2 "$TMP" expired
refusal t "a client certificate not yet valid" 127.0.5.3 \
	"closed: client certificate not yet valid (CN=lis01)" refused "$tport" 127.0.5.3 "$TMP" future
refusal t "a client certificate from an unknown CA" 127.0.5.4 \
	"closed: client certificate from an unknown CA (not tls_ca) (CN=lis01)" refused "$tport" 127.0.5.4 "$TMP" rogue
refusal t "no client certificate where one is required" 127.0.5.5 \
	"closed: no client certificate" refused "$tport" 127.0.5.5 "$TMP" -
refusal t "a subject not on tls_allowed_subjects" 127.0.5.6 \
	"closed: client certificate subject not in tls_allowed_subjects (CN=other)" refused "$tport" 127.0.5.6 "$TMP" other
check "a client allowed by its whole subject is served" \
	$PYT served "$tport" 127.0.5.13 "$TMP" lis02
refusal t "a subject whose one-line form only looks allowed (O=\"Test/OU=LIS\")" 127.0.5.14 \
	"closed: client certificate subject not in tls_allowed_subjects (CN=lis02)" refused "$tport" 127.0.5.14 "$TMP" forged
refusal t "a subject with two CNs (CN=lis01/CN=evil) is not CN=lis01" 127.0.5.20 \
	"closed: client certificate subject not in tls_allowed_subjects (CN=lis01 and another CN)" refused "$tport" 127.0.5.20 "$TMP" twocn
if [ -n "$have_nul" ]; then
	refusal t "a CN with a NUL inside (lis01<NUL>.evil) is not lis01" 127.0.5.15 \
		"closed: client certificate subject not in tls_allowed_subjects (CN=lis01?.evil)" refused "$tport" 127.0.5.15 "$TMP" nul
	refusal t "a CN holding a newline and a forged log line" 127.0.5.24 \
		"closed: client certificate subject not in tls_allowed_subjects (CN=lis01?2026-01-01T00:00:00.000Z labwatchd[1] info: 10.9.9.9:1: connected)" \
		refused "$tport" 127.0.5.24 "$TMP" nl
	check "... no line of the log is forged by it" test "$(log_lines t "^2026-01-01T00:00:00\\.000Z")" -eq 0
fi
if [ -n "$have_long" ]; then
	refusal t "a subject that is an allowed whole subject and 500 bytes more" 127.0.5.25 \
		"closed: client certificate subject not in tls_allowed_subjects (CN=lis02)" refused "$tport" 127.0.5.25 "$TMP" longsubj
	refusal t "a CN of 128 bytes whose first 127 are an allowed CN" 127.0.5.26 \
		"closed: client certificate subject not in tls_allowed_subjects (CN=$cn127)" refused "$tport" 127.0.5.26 "$TMP" longcn
fi

# TLS 1.0 and 1.1: can the installed OpenSSL still offer them at all?
for v in 1.0 1.1; do
	opt=$([ $v = 1.0 ] && echo -tls1 || echo -tls1_1)
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$tport" $opt \
	    -cipher DEFAULT@SECLEVEL=0 -CAfile "$TMP/ca.pem" \
	    -cert "$TMP/lis01.pem" -key "$TMP/lis01.key" >"$TMP/sc.out" 2>&1
	if grep -qi "no protocols available\|unknown option\|wrong version" "$TMP/sc.out" &&
	    ! grep -q "alert protocol version" "$TMP/sc.out"; then
		echo "NOTE: the installed OpenSSL ($(openssl version)) cannot offer TLS $v at all:" \
		    "$(grep -i "error" "$TMP/sc.out" | head -1)"
		ok "TLS $v cannot be offered by this OpenSSL client (nothing to refuse)"
		continue
	fi
	if grep -q "^New, TLSv1.[23]" "$TMP/sc.out" || grep -q "Cipher is [A-Z]" "$TMP/sc.out"; then
		not_ok "openssl s_client $opt -cipher DEFAULT@SECLEVEL=0: refused" "$(grep -i "cipher\|protocol" "$TMP/sc.out" | head -3)"
	else
		ok "openssl s_client $opt -cipher DEFAULT@SECLEVEL=0: refused"
	fi
	src=127.0.5.$([ $v = 1.0 ] && echo 7 || echo 8)
	refusal t "TLS $v offered (Python ssl, SECLEVEL=0)" $src \
		"closed: protocol version too old (TLS $v; TLS 1.2 is the minimum)" old "$tport" $src "$TMP" $v
done

# Peers on the plain port that close before a frame: one line, throttled.
check "300 connections to the plain port closing before a byte" \
	$PYT many "$plain" 127.0.5.27 300 'b""'
sleep 0.3
check "... one line says so" grep -q "127\.0\.5\.27:[0-9]*: closed before sending anything" "$TMP/t.log"
log_at_most t "127\.0\.5\.27[: ]" 2 "... and not 300"
check "300 connections to the plain port sending \"A\" and closing" \
	$PYT many "$plain" 127.0.5.28 300 'b"A"'
sleep 0.3
check "... one line says so" grep -q "127\.0\.5\.28:[0-9]*: 1 bytes outside frames skipped" "$TMP/t.log"
log_at_most t "127\.0\.5\.28[: ]" 3 "... and not 300"

refusal t "plaintext MLLP on the TLS port" 127.0.5.9 \
	"closed: not TLS (plain MLLP or another protocol on the TLS port)" plaintext "$tport" 127.0.5.9
refusal t "an HTTP request on the TLS port" 127.0.5.19 \
	"closed: not TLS (plain MLLP or another protocol on the TLS port)" raw "$tport" 127.0.5.19 'b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"'
refusal t "a TLS ClientHello on the plain port" 127.0.5.10 \
	"a TLS ClientHello on the plain MLLP port" clienthello "$plain" 127.0.5.10
check "... no frame made of it" test "$(log_lines t "127\\.0\\.5\\.10:.*(frame|quarantin|abandon)")" -eq 0
refusal t "a peer outside allow (TLS port)" 127.0.6.1 \
	"refused: not in allow" not-allowed "$tport" 127.0.6.1
refusal t "a peer outside allow (plain port)" 127.0.6.2 \
	"refused: not in allow" not-allowed "$plain" 127.0.6.2
check "a third connection from one peer (max_connections_per_peer = 2): refused" \
	$PYT per-peer "$tport" 127.0.5.11 "$TMP" 2
check "... one refusal line naming the peer" \
	test "$(log_lines t "127\\.0\\.5\\.11:[0-9]+[: ].*refused: max_connections_per_peer \\(2\\) reached")" -eq 1
check "5 refused handshakes from one peer (limit 2) hold no slot: it is served next" \
	$PYT refused-then-served "$tport" 127.0.5.21 "$TMP" 5

# Mozilla "intermediate" without DHE: TLS 1.2 ECDHE + AEAD, and TLS 1.3.
sclient() {	# sclient ARGS...: did a handshake succeed?
	echo | timeout 10 openssl s_client -connect "127.0.0.1:$tport" -CAfile "$TMP/ca.pem" \
	    -cert "$TMP/lis01.pem" -key "$TMP/lis01.key" "$@" >"$TMP/sc.out" 2>&1
	grep -q "^New, TLSv1.[23], Cipher is [A-Z]" "$TMP/sc.out"
}
for c in "AES128-SHA:static RSA, CBC, SHA-1" "AES256-GCM-SHA384:static RSA" \
    "ECDHE-RSA-AES128-SHA:CBC, SHA-1" "ECDHE-RSA-AES256-SHA384:CBC" \
    "DHE-RSA-AES128-GCM-SHA256:finite-field DHE" "DES-CBC3-SHA:3DES"; do
	cipher=${c%%:*} why=${c#*:}
	if ! openssl ciphers "$cipher:@SECLEVEL=0" >/dev/null 2>&1; then
		echo "NOTE: $cipher ($why) cannot be offered by the installed OpenSSL ($(openssl version)): not tested"
		continue
	fi
	if sclient -tls1_2 -cipher "$cipher:@SECLEVEL=0"; then
		not_ok "TLS 1.2 offering only $cipher ($why): refused" "$(grep Cipher "$TMP/sc.out")"
	else ok "TLS 1.2 offering only $cipher ($why): refused"; fi
done
check "... said in words" grep -q "closed: no cipher suite in common" "$TMP/t.log"

n=1
for c in "127.0.5.16:closed: TLS handshake not done within 3s:nothing sent to the TLS port" \
    "127.0.5.17:closed: TLS handshake not done within 3s:a ClientHello cut short on the TLS port" \
    "127.0.5.18:closed: no frame started within 3s (start_timeout):2 bytes of a ClientHello on the plain port"; do
	src=${c%%:*} rest=${c#*:}
	why=${rest%:*} what=${rest##*:}
	eval "pid=\$stall$n"
	if wait "$pid"; then ok "$what: closed at start_timeout"; else
		not_ok "$what: closed at start_timeout" "$(cat "$TMP/stall$n.out")"; fi
	one_line t "$src" "$why" "... $what"
	n=$((n + 1))
done
for cipher in ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305; do
	check "TLS 1.2 $cipher: accepted" sclient -tls1_2 -cipher "$cipher"
done
for suite in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256; do
	check "TLS 1.3 $suite: accepted" sclient -tls1_3 -ciphersuites "$suite"
done
if sclient -tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256; then
	not_ok "TLS 1.3 TLS_AES_128_CCM_SHA256 (not in the profile): refused"
else ok "TLS 1.3 TLS_AES_128_CCM_SHA256 (not in the profile): refused"; fi
lwd_stop t

# tls_verify_client = optional, no allow-list: no certificate is served, a
# bad one is still refused.
conf server | sed -e 's/^tls_verify_client = .*/tls_verify_client = optional/' \
    -e 's/^tls_allowed_subjects = .*/tls_allowed_subjects =/' >"$TMP/o.conf"
lwd_start o "$TMP/o.conf"
check "optional: a client without a certificate is served" \
	$PYT served "$tls_port" 127.0.5.22 "$TMP" -
refusal o "optional: an expired client certificate" 127.0.5.23 \
	"closed: client certificate expired (CN=lis01)" refused "$tls_port" 127.0.5.23 "$TMP" expired
lwd_stop o

# A server certificate that has expired: clients that verify refuse it,
# and labwatchd says so before the first of them does.
conf oldserver >"$TMP/x.conf"
tls_cert newserver localhost ca 20990101000000Z 20991231000000Z rsa
conf newserver >"$TMP/y.conf"
for c in "x:tls_cert expired on 2020-02-01 00:00:00 UTC" "y:tls_cert is not valid before 2099-01-01 00:00:00 UTC"; do
	"$LABWATCHD" --check-config -c "$TMP/${c%%:*}.conf" >"$TMP/cc.out" 2>&1
	rc=$?
	check "--check-config: \"${c#*:}\" is a warning (exit $rc)" \
		sh -c '[ "$0" -eq 0 ] && grep -qF "warning: $1" "$2"' "$rc" "${c#*:}" "$TMP/cc.out"
done
lwd_start x "$TMP/x.conf"
check "labwatchd warns at start that its tls_cert has expired" \
	grep -qF "warn: tls_cert expired on 2020-02-01 00:00:00 UTC" "$TMP/x.log"
kill -HUP "$(cat "$TMP/x.pid")"
for _ in $(seq 30); do grep -q "reloaded:" "$TMP/x.log" && break; sleep 0.1; done
check "... and again on SIGHUP" grep -qF "warn: reload: tls_cert expired on 2020-02-01" "$TMP/x.log"
refusal x "an expired server certificate (the client refuses it)" 127.0.5.12 \
	"closed: the client ended the handshake (sslv3 alert certificate expired)" \
	server-expired "$tls_port" 127.0.5.12 "$TMP"
lwd_stop x

for l in t o x; do
	check "no patient data in the log ($l)" no_patient_data "$PATIENT_ID|$PATIENT_NAME|QUINTUS" "$TMP/$l.log"
done
check "the served frame did carry the patient id (the check above means something)" \
	grep -q "$PATIENT_ID" "$TMP/spool"
done_testing
