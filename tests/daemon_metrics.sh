#!/bin/sh
# labwatchd's /metrics (issue 16) against a real private PostgreSQL: the
# counters add up with what the database holds, through an outage and
# its drain; only /metrics is served on metrics_listen; no metrics
# listener unless configured.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite metrics

lwd_db_conf "$TMP/m.conf" "max_message_size = 64k
max_connections_per_peer = 3
metrics_listen = 127.0.0.1:0"
lwd_start m "$TMP/m.conf"
mport=$(sed -n 's|.*metrics on http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$TMP/m.log" | head -1)
check "the log names the metrics URL" test -n "$mport"
URL="http://127.0.0.1:$mport"
scrape() { curl -sf --max-time 10 "$URL/metrics" >"$TMP/scrape.txt"; }
# m SAMPLE: its value in the last scrape ("" when absent)
m() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/scrape.txt"; }
# eq WHAT SAMPLE WANT: the sample in the last scrape is WANT
eq() {
	got=$(m "$2")
	if [ "$got" = "$3" ]; then ok "$1 ($2 = $got)"; else
		not_ok "$1" "$2 = '$got', want '$3'"; fi
}
# wait_for SAMPLE WANT: scrape until it holds (up to 30 s)
wait_for() {
	for _ in $(seq 150); do
		scrape && [ "$(m "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

# --- the endpoint
check "GET /metrics: 200" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics")" = 200
check "content type is the text format 0.0.4" sh -c \
	"curl -s -D - -o /dev/null '$URL/metrics' | grep -qi '^content-type: text/plain; version=0.0.4'"
for path in / /metrics/ /metricsx /health /metrics/../x "/index.html"; do
	check "GET $path: 404" test "$(curl -s -o /dev/null -w '%{http_code}' "$URL$path")" = 404
done
code=$(curl -s -o /dev/null -w "%{http_code}" -X POST -d x "$URL/metrics")
check "POST /metrics: refused ($code)" test "$code" = 405 -o "$code" = 501
check "PUT /: refused, not served" test "$(curl -s -o /dev/null -w "%{http_code}" -X PUT -d x "$URL/")" -ge 400
check "GET /metrics?x=1 (Prometheus params): 200" \
	test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics?x=1")" = 200
scrape
eq "nothing received yet" labwatch_frames_received_total 0
eq "database up" labwatch_database_up 1
eq "spool empty" labwatch_spool_records 0
eq "build info names the version" "labwatch_build_info{version=\"$("$LABWATCHD" --version | cut -d' ' -f2)\"}" 1
check "every family has HELP and TYPE, every sample a family" $PY - "$TMP/scrape.txt" <<'EOF'
import re, sys
fam, bad = {}, []
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# HELP "):
        fam.setdefault(line.split()[2], set()).add("HELP")
    elif line.startswith("# TYPE "):
        n, t = line.split()[2:4]
        fam.setdefault(n, set()).add("TYPE")
        if t == "counter" and not n.endswith("_total"):
            bad.append("counter without _total: " + n)
    else:
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', line)
        if not m:
            bad.append("bad line: " + line)
            continue
        n = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        if n not in fam and m.group(1) not in fam:
            bad.append("no family: " + line)
        float(m.group(3))
bad += [n for n, s in fam.items() if s != {"HELP", "TYPE"}]
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF

# --- contrib/: valid, and every labwatchd metric it names is served
check "contrib/grafana-labwatch.json is JSON with panels" $PY -c \
	"import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if d['panels'] else 1)" \
	"$top_srcdir/contrib/grafana-labwatch.json"
check "contrib/labwatch-rules.yml is a rules file" $PY -c \
	"import yaml, sys; g = yaml.safe_load(open(sys.argv[1]))['groups']; sys.exit(0 if all(r['alert'] and r['expr'] for x in g for r in x['rules']) else 1)" \
	"$top_srcdir/contrib/labwatch-rules.yml"
check "every labwatch_ metric in contrib/ exists" $PY - "$TMP/scrape.txt" "$top_srcdir" <<'EOF'
import re, sys
served = set(l.split()[2] for l in open(sys.argv[1]) if l.startswith("# TYPE "))
notify = open(sys.argv[2] + "/cli/notify_metrics.c").read()
missing = []
for f in ("contrib/grafana-labwatch.json", "contrib/labwatch-rules.yml"):
    for n in set(re.findall(r"labwatch_[a-z_]+", open(sys.argv[2] + "/" + f).read())):
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        if base not in served and not (n.startswith("labwatch_notify_") and '"%s"' % base in notify):
            missing.append(f + ": " + n)
print("\n".join(missing))
sys.exit(1 if missing else 0)
EOF

# --- frames of every outcome
"$LW" enroll T100 --phase neoadjuvant --since 2026-11-01 >/dev/null
"$top_builddir/bench/gen_oru" -n 30 -s 7 -f mllp >"$TMP/oru.mllp" 2>/dev/null
$PY - "$TMP" <<'EOF'
import sys
d = sys.argv[1]
def f(*segs):
    return b"\x0b" + b"\r".join(s.encode() for s in segs) + b"\r\x1c\r"
msh = "MSH|^~\\&|LIS|MAINLAB|LW|H|20261120073000||%s|%s|P|2.5.1"
out = open(d + "/other.mllp", "wb")
for i in range(3):  # not ORU: stored as ignored, AA
    out.write(f(msh % ("ADT^A01", "ADT%d" % i), "PID|1||A%d^^^H^MR" % i))
for i in range(2):  # ORU without OBX: quarantined, AE
    out.write(f(msh % ("ORU^R01", "NOOBX%d" % i), "PID|1||Q%d^^^H^MR" % i,
                "OBR|1|O1|F1|24323-8^CMP^LN"))
for i in range(2):  # over max_message_size: quarantined, AR
    out.write(f(msh % ("ORU^R01", "BIG%d" % i), "PID|1||B%d^^^H^MR" % i,
                "NTE|1||" + "x" * 70000))
# a grade 3 ALT for the enrolled patient: toxicity and hold alerts
out.write(f(msh % ("ORU^R01", "TOX1"), "PID|1||T100^^^H^MR",
            "OBR|1|O9|F9|24323-8^CMP^LN",
            "OBX|1|NM|1742-6^ALT^LN||210|U/L|10-40||||F"))
EOF
# send FILE: every frame, then wait for as many ACKs; prints their MSA-1
send() { mllp_acks "$1" | cut -d' ' -f1; }
send "$TMP/oru.mllp" >"$TMP/acks1"
send "$TMP/oru.mllp" >"$TMP/acks2"   # again: 30 duplicates
send "$TMP/other.mllp" >"$TMP/acks3"
check "68 ACKs came back" test "$(cat "$TMP/acks1" "$TMP/acks2" "$TMP/acks3" | wc -l)" -eq 68
scrape
rows() { q "select count(*) from labwatch.messages where $1"; }
eq "frames received: all 68" labwatch_frames_received_total 68
eq "processed = rows processed (31)" 'labwatch_frames_total{outcome="processed"}' "$(rows "outcome = 'processed'")"
eq "ignored = rows ignored (3)" 'labwatch_frames_total{outcome="ignored"}' "$(rows "outcome = 'ignored'")"
eq "quarantined = rows quarantined (4)" 'labwatch_frames_total{outcome="quarantined"}' "$(rows "outcome = 'quarantined'")"
eq "duplicates: the 30 sent again" 'labwatch_frames_total{outcome="duplicate"}' 30
eq "nothing refused" 'labwatch_frames_total{outcome="refused"}' 0
check "processed is 31 in the database" test "$(rows "outcome = 'processed'")" -eq 31
# gen_oru asks for enhanced mode (MSH-15/16) in some messages: CA for those.
check "AA + CA = rows AA or CA + duplicates (64)" test \
	"$(( $(m 'labwatch_acks_total{code="AA"}') + $(m 'labwatch_acks_total{code="CA"}') ))" = \
	"$(( $(rows "ack_code in ('AA', 'CA')") + 30 ))"
check "the ACK codes as the senders saw them" test \
	"$(m 'labwatch_acks_total{code="CA"}')" = "$(cat "$TMP/acks1" "$TMP/acks2" "$TMP/acks3" | grep -c '^CA$')"
eq "AE = rows AE (2)" 'labwatch_acks_total{code="AE"}' "$(rows "ack_code = 'AE'")"
eq "AR = rows AR (2, oversize)" 'labwatch_acks_total{code="AR"}' "$(rows "ack_code = 'AR'")"
eq "AR is what the sender saw" 'labwatch_acks_total{code="AR"}' "$(grep -c '^AR$' "$TMP/acks3")"
eq "no CE" 'labwatch_acks_total{code="CE"}' 0
eq "an ACK latency per ACK" labwatch_ack_latency_seconds_count 68
eq "latency histogram ends at +Inf with every ACK" 'labwatch_ack_latency_seconds_bucket{le="+Inf"}' 68
eq "batch sizes add up to the frames" labwatch_batch_size_sum 68
check "as many commit latencies as batches" test "$(m labwatch_batch_commit_seconds_count)" = "$(m labwatch_batch_size_count)"
check "buckets are cumulative" $PY - "$TMP/scrape.txt" <<'EOF'
import sys, re
last = {}
for line in open(sys.argv[1]):
    m = re.match(r'^(\w+)_bucket\{.*le="([^"]+)"\} (\d+)$', line)
    if m:
        if int(m.group(3)) < last.get(m.group(1), 0):
            sys.exit(1)
        last[m.group(1)] = int(m.group(3))
sys.exit(0 if last else 1)
EOF
eq "toxicity alerts = rows" 'labwatch_alerts_total{kind="toxicity",severity="critical"}' \
	"$(q "select count(*) from labwatch.alerts where kind = 'toxicity' and severity = 'critical'")"
alerts_sum=$(awk '/^labwatch_alerts_total\{/ { s += $2 } END { print s }' "$TMP/scrape.txt")
check "alerts by kind add up to the alerts table (>= 2)" sh -c \
	"[ '$alerts_sum' = '$(q "select count(*) from labwatch.alerts")' ] && [ '$alerts_sum' -ge 2 ]"

# --- connections: a limit, a TLS client on the plain port
$PY - "$port" "$URL/metrics" >"$TMP/conns" <<'EOF'
import socket, ssl, sys, time, urllib.request
p = int(sys.argv[1])
held = [socket.create_connection(("127.0.0.1", p)) for _ in range(4)]
for s in held[:3]:
    s.sendall(b"\x0b")  # a frame begun: these are MLLP connections
time.sleep(0.5)
text = urllib.request.urlopen(sys.argv[2], timeout=10).read().decode()
print([l for l in text.splitlines() if l.startswith("labwatch_connections_open ")][0])
for s in held:
    s.close()
time.sleep(0.5)
try:
    ssl.create_default_context().wrap_socket(socket.create_connection(("127.0.0.1", p)),
                                             server_hostname="x")
except Exception:
    pass
EOF
check "connections open while 3 are held" grep -qx "labwatch_connections_open 3" "$TMP/conns"
wait_for 'labwatch_connections_refused_total{reason="tls"}' 1
eq "a ClientHello on the plain port: refused, tls" 'labwatch_connections_refused_total{reason="tls"}' 1
eq "the 4th connection from one peer: refused, limit" 'labwatch_connections_refused_total{reason="limit"}' 1
eq "nobody refused by the allow list" 'labwatch_connections_refused_total{reason="acl"}' 0
wait_for labwatch_connections_open 0
eq "connections closed: none open" labwatch_connections_open 0

# --- an outage: spooled, then drained
pg_stop "$PGD" >/dev/null
"$top_builddir/bench/gen_oru" -n 5 -s 8 -f mllp >"$TMP/later.mllp" 2>/dev/null
send "$TMP/later.mllp" >"$TMP/acks4"
check "5 accepted while the database is down" test "$(grep -cE '^(AA|CA)$' "$TMP/acks4")" -eq 5
scrape
eq "database down" labwatch_database_up 0
eq "5 spooled" 'labwatch_frames_total{outcome="spooled"}' 5
eq "the spool holds 5 records" labwatch_spool_records 5
check "and their bytes" test "$(m labwatch_spool_bytes)" -gt 5000
eq "no drain yet" labwatch_spool_drains_total 0
pg_start "$PGD" >/dev/null
wait_for labwatch_spool_records 0
eq "the spool is empty again" labwatch_spool_records 0
eq "spool bytes back to 0" labwatch_spool_bytes 0
eq "one drain" labwatch_spool_drains_total 1
eq "5 frames drained" labwatch_spool_drained_frames_total 5
eq "database up again" labwatch_database_up 1
check "a reconnect counted" test "$(m labwatch_database_reconnects_total)" -ge 1
eq "processed = rows processed after the drain (36)" 'labwatch_frames_total{outcome="processed"}' "$(rows "outcome = 'processed'")"
check "36 in the database" test "$(rows "outcome = 'processed'")" -eq 36

# --- reloads
kill -HUP "$(cat "$TMP/m.pid")"
wait_for 'labwatch_rules_reloads_total{result="ok"}' 1
eq "SIGHUP: one reload" 'labwatch_rules_reloads_total{result="ok"}' 1
eq "no failed reload" 'labwatch_rules_reloads_total{result="error"}' 0
lwd_stop m
rm -f "$TMP/m.pid"

# --- no metrics_listen: no metrics listener
grep -v '^metrics_listen' "$TMP/m.conf" >"$TMP/plain.conf"
lwd_start plain "$TMP/plain.conf"
check "without metrics_listen, no metrics line in the log" sh -c "! grep -q 'metrics on' '$TMP/plain.log'"
check "without metrics_listen, one listening socket (MLLP)" $PY - "$(cat "$TMP/plain.pid")" "$port" <<'EOF'
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        t = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if t.startswith("socket:["):
        inodes.add(t[8:-1])
listening = []
for f in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(f).readlines()[1:]:
        c = line.split()
        if c[3] == "0A" and c[9] in inodes:
            listening.append(int(c[1].split(":")[1], 16))
print(listening)
sys.exit(0 if listening == [port] else 1)
EOF
check "the example config sets metrics_listen to loopback" \
	grep -qx 'metrics_listen = 127.0.0.1:9575' "$top_srcdir/daemon/labwatchd.conf.example"
lwd_stop plain
rm -f "$TMP/plain.pid"

done_testing
