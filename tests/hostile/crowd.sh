#!/bin/sh
# tests/hostile/crowd.sh [--full]: slow, idle and many peers against a
# running labwatchd with a private PostgreSQL (issue 14, item 2).
#
# 1. A well-behaved sender's ACK latency alone (the baseline), then while
#    NSLOW slowloris connections (a byte every 3 s) and NIDLE connections
#    that never send are held and reopened from 250 addresses: every
#    frame ACKed AA and stored, p99 within BOUND of the baseline's.
#    Full: 1,000 + 1,000, 1,000 frames a phase, p99 at most 2x.
#    Short: 200 + 200, 300 frames a phase, p99 at most 5x + 20 ms (a
#    loaded CI machine).
#    CROWD_CONF=LINES adds lines to the first labwatchd.conf (e.g.
#    frame_timeout = 120s: the slow connections then outlive the phase).
# 2. IDLE concurrent idle connections (full 10,000, short 2,000) from one
#    address, accepted and held by a labwatchd started with a soft
#    open-file limit of 1024 (it raises its own to fit max_connections);
#    its resident memory before and after gives the cost per connection.
#
# The full form's bound compares two p99s of 1,000 frames. On a machine
# shared with other work (load 11-19 on 2 cores when TESTING.md's figures
# were taken) those are the other work's scheduling delays more than
# labwatchd's: measured there, labwatchd used 1.5 % of a core in the
# baseline and 2.7 % under attack, the attacker 2.6 % (TESTING.md). As
# root the full form therefore runs itself, its PostgreSQL, labwatchd
# and both clients at nice CROWD_NICE (default -10; 0 leaves it): the
# other work waits, and what is left is what the crowd costs.
full=0
[ "${1:-}" = --full ] || [ -n "${HOSTILE_FULL:-}" ] && full=1
if [ $full -eq 1 ] && [ "$(id -u)" -eq 0 ] && [ "${CROWD_NICE:--10}" -ne 0 ]; then
	renice -n "${CROWD_NICE:--10}" -p $$ >/dev/null && echo "crowd: running at nice ${CROWD_NICE:--10}"
fi
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/hostile/common.sh"
skip_if_listed crowd
if [ $full -eq 1 ]; then
	nslow=1000 nidle=1000 ngood=1000 nidle2=10000
else
	nslow=200 nidle=200 ngood=300 nidle2=2000
fi
MLLP_LOAD=$top_builddir/bench/mllp_load
hard=$(ulimit -Hn)
[ "$hard" != unlimited ] && [ "$hard" -lt $((nidle2 + 2000)) ] && { echo "SKIP: hard open-file limit $hard"; exit 77; }

# --- 1. slow and idle peers
hostile_conf "$TMP/d.conf" "max_connections = 12000
${CROWD_CONF:-}"
ulimit -Sn 1024
lwd_start d "$TMP/d.conf"
ulimit -Sn "$hard"
$PY "$HERE/crowd.py" good "$port" "$ngood" BASE >"$TMP/base.out"
cat "$TMP/base.out"
$PY "$HERE/crowd.py" attack "$port" $nslow $nidle 250 600 "$TMP/ready" >"$TMP/attack.out" 2>&1 &
echo $! >"$TMP/attack.pid"
for _ in $(seq 300); do [ -s "$TMP/ready" ] && break; sleep 0.1; done
sleep 3
held=$(($(ls "/proc/$(cat "$TMP/d.pid")/fd" | wc -l)))
$PY "$HERE/crowd.py" good "$port" "$ngood" ATTACK >"$TMP/att.out"
touch "$TMP/ready.stop"
wait "$(cat "$TMP/attack.pid")"
rm -f "$TMP/attack.pid"
cat "$TMP/att.out" "$TMP/attack.out"
echo "labwatchd held $held descriptors with the attack in place"
check "labwatchd held the attack's connections ($held descriptors)" test "$held" -ge $((nslow + nidle))
check "baseline: every frame AA" grep -q "BASE: $ngood frames, $ngood AA" "$TMP/base.out"
check "under attack: every frame AA" grep -q "ATTACK: $ngood frames, $ngood AA" "$TMP/att.out"
check "both phases stored, processed" test "$(q "select count(*) from labwatch.messages where sending_application = 'CROWDLIS' and control_id !~ '^SLOW' and outcome = 'processed'")" -eq $((2 * ngood))
p99b=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$TMP/base.out")
p99a=$(sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p' "$TMP/att.out")
if [ $full -eq 1 ]; then
	bound=$(echo "$p99b * 2" | bc -l)
else
	bound=$(echo "$p99b * 5 + 20" | bc -l)
fi
echo "p99 ACK latency: baseline $p99b ms, under attack $p99a ms (bound $bound ms)"
check "p99 under attack ($p99a ms) within the bound ($bound ms)" test "$(echo "$p99a <= $bound" | bc -l)" -eq 1
lwd_stop d
check "no patient data in the log" no_patient_data 'CROWDPAT' "$TMP/d.log"
check "the daemon raised its open-file limit itself" grep -q "open-file limit raised from 1024 to 12064" "$TMP/d.log"
lines=$(wc -l <"$TMP/d.log")
check "the attack's log lines are throttled ($lines lines)" test "$lines" -lt 1000

# --- 2. many idle connections
hostile_conf "$TMP/i.conf" "max_connections = 12000
max_connections_per_peer = 12000
start_timeout = 600s"
ulimit -Sn 1024
lwd_start i "$TMP/i.conf"
ulimit -Sn "$hard"
"$MLLP_LOAD" -h 127.0.0.1 -p "$port" --idle $nidle2 --pid "$(cat "$TMP/i.pid")" --idle-wait 5 --json >"$TMP/idle.json" 2>"$TMP/idle.err"
st=$?
cat "$TMP/idle.err"
check "$nidle2 idle connections accepted and held (none closed)" \
	$PY -c "import json,sys; j=json.load(open(sys.argv[1])); sys.exit(not ($st == 0 and j['connections'] == $nidle2 and j['closed_by_server'] == 0))" "$TMP/idle.json"
per=$($PY -c "import json,sys; print(round(json.load(open(sys.argv[1]))['bytes_per_conn']))" "$TMP/idle.json" 2>/dev/null)
echo "memory per idle connection: ${per:-?} bytes"
check "an idle connection costs under 64 KiB (${per:-?} bytes)" test "${per:-999999}" -lt 65536
lwd_stop i
done_testing
