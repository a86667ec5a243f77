#!/bin/sh
# A COMMIT whose answer is lost with the connection (issue 14; TESTING.md,
# "An AR for a message that was stored", fixed): labwatchd talks to its
# PostgreSQL through a proxy (tests/fault/lost_commit.py) that closes both
# connections around one COMMIT, chosen by a control id of its batch:
# after the server committed (stored, the answer lost) or before the
# COMMIT reached it (rolled back). The spool cannot take a frame (its
# files limited to 4 KiB: EFBIG), which before the fix made such a frame
# AR although it was stored. Now it is held, unanswered, until labwatchd
# is connected again and asks the database: stored, AA (once); not
# stored, AR; a later frame of its connection waits behind it; the
# counters add up with it counted as what it is. With room in the spool
# it is spooled (AA) and the drain finds it stored: one row; a frame
# with no identity (no MSH-10) too, since the spool keeps the row id its
# batch used (case 7). When labwatchd's question "which are stored?" is
# itself refused, the connection up, nothing else is written before it
# is answered (case 8).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
REAL_LABWATCHD=$LABWATCHD
HELPER="$top_srcdir/tests/fault/lost_commit.py"
# labwatchd under its "limited" wrapper, whose pid the pid file holds:
# its child, labwatchd, goes first.
suite_cleanup() {
	for f in "$TMP"/*.pid; do
		[ -f "$f" ] && pkill -9 -P "$(cat "$f")" 2>/dev/null
	done
	return 0
}
pg_suite lost

# The proxy, between labwatchd and the server; which COMMIT it loses
# (once each) is named by a control id of the batch (by another field of
# a frame that has none: LOSTQ1, LOSTQ2).
mkdir -p "$PGD/px"
$PY "$HELPER" proxy "$PGD/px" "$PGHOST" "$PGPORT" \
	LOSTC1=after LOSTA1=after LOSTB1=before LOSTD1=after \
	LOSTS1=slow LOSTE1=after LOSTG1=down LOSTQ1=after LOSTQ2=before \
	LOSTH1=afterfail LOSTQ9=after >"$TMP/proxy.log" 2>&1 &
PIDS=$!
for _ in $(seq 50); do grep -q listening "$TMP/proxy.log" && break; sleep 0.1; done

lwd_db_conf "$TMP/d.conf" "db = host=$PGD/px port=$PGPORT dbname=labwatch user=postgres connect_timeout=2
spool_path = $TMP/spool
log_level = info"
# conf N: the same with the spool in $TMP/spoolN, as $TMP/dN.conf
conf() { sed "s|^spool_path = .*|spool_path = $TMP/spool$1|" "$TMP/d.conf" >"$TMP/d$1.conf"; }
# labwatchd whose files (the spool) cannot grow past 4 KiB
cat >"$TMP/labwatchd-limited" <<EOF
#!/bin/sh
exec $PY "$HELPER" limited 4096 "$REAL_LABWATCHD" "\$@"
EOF
chmod +x "$TMP/labwatchd-limited"

# build CONTROL_ID:PATIENT...: their MLLP frames in $TMP/f.hl7
build() {
	: >"$TMP/f.hl7"
	for f in "$@"; do
		printf '\013' >>"$TMP/f.hl7"
		# about 5 KiB: no spool record of it fits in 4 KiB; CID:PAT:s
		# a small one, which fits
		pad="$(printf '%05000d' 0 | tr 0 x)|ST|x||"
		case $f in *:s) f=${f%:s} pad="1742-6|NM|32|U/L|10-40" ;; esac
		oru "${f#*:}" "${f%%:*}" 20261201080000 "1742-6|NM|31|U/L|10-40" \
			"$pad" >>"$TMP/f.hl7"
		printf '\034\r' >>"$TMP/f.hl7"
	done
}
# frames CONTROL_ID:PATIENT...: built, sent in one write on one
# connection; prints the ACKs "CODE CONTROL_ID" in order
frames() {
	build "$@"
	mllp_acks "$TMP/f.hl7"
}
rows() { q "select count(*) from labwatch.messages where control_id = '$1'"; }
# counters LOG: "received accounted processed duplicate refused with-the-store"
counters() {
	sed -n 's/.*counters: \([0-9]*\) frames received, \([0-9]*\) accounted: \([0-9]*\) processed, \([0-9]*\) duplicate, .* \([0-9]*\) refused (AR, not stored), \([0-9]*\) with the store.*/\1 \2 \3 \4 \5 \6/p' "$1" | tail -1
}

# case_start N WRAPPER PATIENT: labwatchd (WRAPPER: $LIMITED, its spool
# unable to grow past 4 KiB, or $REAL_LABWATCHD) on $TMP/dN.conf (its
# own spool), warmed up by a small frame of PATIENT, LOSTWN: AA checked
case_start() {
	LABWATCHD=$2
	conf "$1"
	lwd_start d "$TMP/d$1.conf"
	out=$(frames "LOSTW$1:$3:s")
	check "warm-up: AA" test "$out" = "AA LOSTW$1"
}
# back_stop: labwatchd stopped once it said the database is back (10 s
# at most) and a second more
back_stop() {
	for _ in $(seq 100); do grep -q "database back" "$TMP/d.log" && break; sleep 0.1; done
	sleep 1
	lwd_stop d
}

LIMITED=$TMP/labwatchd-limited
LABWATCHD=$LIMITED
lwd_start d "$TMP/d.conf"

# 1. The one-statement batch (a known patient, not enrolled: ingest_send):
# committed, its answer lost.
out=$(frames LOSTW1:LOSTPAT1)
check "warm-up: AA" test "$out" = "AA LOSTW1"
out=$(frames LOSTC1:LOSTPAT1)
check "one-statement batch: the proxy lost its answer after the commit" \
	grep -q "dropped LOSTC1 after ins_new status I" "$TMP/proxy.log"
check "... answered AA, not AR (AR before the fix)" test "$out" = "AA LOSTC1"
check "... stored once" test "$(rows LOSTC1)" -eq 1

# 2. Two frames of one connection in a BEGIN ... COMMIT batch (a new
# patient): committed, its answer lost; the ACKs in order.
out=$(frames LOSTA1:LOSTPAT2 LOSTA2:LOSTPAT2 | tr '\n' ' ')
check "COMMIT: the proxy lost its answer after the server committed" \
	grep -q "dropped LOSTA1 after commit status I" "$TMP/proxy.log"
# LOSTA2 goes in the other half of the batch (committed on the other
# session, then waits behind LOSTA1) or in LOSTA1's: AA either way. Were
# it read apart and found the database gone, AR would be true of it too.
a2=AA
[ "$(rows LOSTA2)" -eq 0 ] && a2=AR
check "... LOSTA1 AA (AR before the fix), LOSTA2 after it ($a2, as stored)" test "$out" = "AA LOSTA1 $a2 LOSTA2 "
check "... LOSTA1 stored once, LOSTA2 at most once" sh -c "[ $(rows LOSTA1) -eq 1 ] && [ $(rows LOSTA2) -le 1 ]"

# 3. The COMMIT lost before it reached the server: rolled back; AR, not
# stored; the resend goes in.
out=$(frames LOSTB1:LOSTPAT3)
check "COMMIT lost before the server had it" grep -q "dropped LOSTB1 before commit" "$TMP/proxy.log"
check "... AR (not stored: resend later)" test "$out" = "AR LOSTB1"
check "... and not stored" test "$(rows LOSTB1)" -eq 0
out=$(frames LOSTB1:LOSTPAT3)
check "... its resend: AA, stored once" test "$out/$(rows LOSTB1)" = "AA LOSTB1/1"
# What it found, each time it asked: stored LOSTC1, LOSTA1 (and LOSTA2
# when it was in LOSTA1's batch, not the other half); not stored LOSTB1.
found=$(sed -n 's/.*lost with the connection: .*, \([0-9]*\) are stored .*, \([0-9]*\) are not.*/\1 \2/p' "$TMP/d.log" |
	awk '{ s += $1; n += $2 } END { print s + 0, n + 0 }')
check "labwatchd says what it found when it asked ($found)" sh -c "[ '$found' = '2 1' ] || [ '$found' = '3 1' ]"
lwd_stop d
c=$(counters "$TMP/d.log")
echo "counters (received accounted processed duplicate refused with-the-store): $c"
# LOSTW1, LOSTC1, LOSTA1, LOSTA2, LOSTB1 twice: 6 frames, 5 processed,
# one refused (an AR that was true), none left with the store.
want="6 6 5 0 1 0"
[ "$a2" = AR ] && want="6 6 4 0 2 0"
check "the counters add up: $want" test "$c" = "$want"
cp "$TMP/d.log" "$TMP/d1.log"

# 4. With room in the spool: spooled (AA); the drain finds it stored.
LABWATCHD=$REAL_LABWATCHD
lwd_start d "$TMP/d.conf"
out=$(frames LOSTD1:LOSTPAT4)
check "room in the spool: the proxy lost the answer after the commit" grep -q "dropped LOSTD1 after" "$TMP/proxy.log"
check "... answered AA (spooled)" test "$out" = "AA LOSTD1"
back_stop
check "... stored once (the drain found it there)" test "$(rows LOSTD1)" -eq 1
c=$(counters "$TMP/d.log")
echo "counters (received accounted processed duplicate refused with-the-store): $c"
check "... counted spooled, nothing refused" sh -c "grep -q 'counters: 1 frames received, 1 accounted: 0 processed, 0 duplicate, 0 ignored, 0 quarantined, 1 spooled, 0 refused' '$TMP/d.log'"
cp "$TMP/d.log" "$TMP/d2.log"

# 5. In the batch whose answer is lost, an earlier frame of the same
# connection that the spool takes (small) before one it cannot (5 KiB,
# held): the ACKs in the order sent. Before the fix the earlier frame
# was queued behind the held one and its ACK came second. LOSTS1's
# COMMIT is slowed by the proxy so that the three frames after it make
# one batch (its halves: LOSTF0; LOSTF1 and LOSTE1).
case_start 5 "$LIMITED" LOSTPAT5
frames LOSTS1:LOSTPAT6:s >"$TMP/slow.out" &
slow=$!
for _ in $(seq 50); do grep -q "delayed LOSTS1" "$TMP/proxy.log" && break; sleep 0.1; done
out=$(frames LOSTF0:LOSTPAT5:s LOSTF1:LOSTPAT5:s LOSTE1:LOSTPAT5 | tr '\n' ' ')
wait $slow
check "slowed batch: AA" test "$(cat "$TMP/slow.out")" = "AA LOSTS1"
check "the proxy lost LOSTE1's answer after the commit" \
	grep -q "dropped LOSTE1 after commit status I" "$TMP/proxy.log"
check "... LOSTF1 (spooled) answered before LOSTE1 (held): $out" \
	test "$out" = "AA LOSTF0 AA LOSTF1 AA LOSTE1 "
check "... each stored once" test "$(rows LOSTF0)$(rows LOSTF1)$(rows LOSTE1)" = 111
back_stop
cp "$TMP/d.log" "$TMP/d3.log"

# drained N: wait (up to 20 s) until labwatchd said "spool drained" N times
drained() {
	for _ in $(seq 200); do
		[ "$(grep -c "spool drained" "$TMP/d.log")" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# 7. A frame with no identity (MSH-10 missing: AE, kept as quarantined,
# which no unique index deduplicates) in a batch whose COMMIT's answer is
# lost, with room in the spool: spooled (AE); the drain offers its row
# with the id the batch used, finds it there, and adds nothing. Before
# the fix the drain stored it a second time (its duplicate check works
# by identity). The same lost before the COMMIT reached the server
# (rolled back): the drain stores it, once.
case_start 7 "$REAL_LABWATCHD" LOSTPAT8
# noid MARKER: an ORU without MSH-10, MARKER its sending facility
noid() {
	printf '\013'
	oru LOSTPAT8 XCID 20261201080000 "1742-6|NM|31|U/L|10-40" |
		sed "s/|MAINLAB|/|$1|/; s/|XCID|/||/"
	printf '\034\r'
}
# rows_raw MARKER: rows whose frame holds MARKER
rows_raw() { q "select count(*) from labwatch.messages where position(convert_to('$1', 'UTF8') in raw) > 0"; }
noid LOSTQ1 >"$TMP/q1.hl7"
out=$(mllp_acks "$TMP/q1.hl7")
check "no MSH-10: the proxy lost its answer after the commit" \
	grep -Eq "dropped LOSTQ1 after (commit|ins_new) status I" "$TMP/proxy.log"
check "... answered AE (spooled)" eq "$out" "AE "
check "... drained" drained 1
check "... one row, quarantined (two before the fix)" \
	eq "$(rows_raw LOSTQ1)/$(q "select string_agg(outcome, ',') from labwatch.messages where position(convert_to('LOSTQ1', 'UTF8') in raw) > 0")" 1/quarantined
noid LOSTQ2 >"$TMP/q2.hl7"
out=$(mllp_acks "$TMP/q2.hl7")
check "no MSH-10, the COMMIT lost before the server had it" \
	grep -Eq "dropped LOSTQ2 before (commit|ins_new)" "$TMP/proxy.log"
check "... answered AE (spooled)" eq "$out" "AE "
check "... drained" drained 2
check "... stored once, by the drain" \
	eq "$(rows_raw LOSTQ2)/$(q "select count(*) from labwatch.messages where position(convert_to('LOSTQ2', 'UTF8') in raw) > 0 and spool_ref is not null")" 1/1
lwd_stop d
check "... the counters: 3 received, 1 processed, 2 spooled, 2 drained" \
	grep -q "counters: 3 frames received, 3 accounted: 1 processed, 0 duplicate, 0 ignored, 0 quarantined, 2 spooled, 0 refused (AR, not stored), 0 with the store; 2 drained from the spool, 0 still spooled" "$TMP/d.log"
cp "$TMP/d.log" "$TMP/d4.log"

# 8. labwatchd's question after a lost COMMIT ("which of these are
# stored?", sel_stored) refused with an SQL error, the connection kept
# (the proxy fails it 4 times): the held frame waits, and nothing is
# written before it is asked: frames that come meanwhile go to the spool
# (AA), as in an outage, and are drained after; the refusal said once;
# asked again about once a second, then answered, each frame once and in
# order. Before the fix they were written at once while the held frame
# was not asked about, and the error was logged at every try.
case_start 8 "$LIMITED" LOSTPAT9
build LOSTH1:LOSTPAT9
mv "$TMP/f.hl7" "$TMP/h1.hl7"
build LOSTH3:LOSTPAT9:s
mv "$TMP/f.hl7" "$TMP/h3.hl7"
# LOSTH1 (held), and 1.5 s later LOSTH3 on the same connection
mllp_acks --pause 1.5 "$TMP/h1.hl7" "$TMP/h3.hl7" >"$TMP/x.out" &
xsend=$!
for _ in $(seq 100); do grep -q "failed sel_stored" "$TMP/proxy.log" && break; sleep 0.1; done
out=$(frames LOSTH2:LOSTPAT10:s)
wait $xsend
check "the proxy lost LOSTH1's answer after the commit" \
	grep -Eq "dropped LOSTH1 after (commit|ins_new) status I" "$TMP/proxy.log"
check "... then refused the question 4 times, then answered it" sh -c \
	"[ \$(grep -c 'failed sel_stored' '$TMP/proxy.log') -eq 4 ] && sed -n '/failed sel_stored 0/,\$p' '$TMP/proxy.log' | grep -q 'asked sel_stored'"
check "another connection meanwhile: AA" eq "$out" "AA LOSTH2"
check "LOSTH1 held, LOSTH3 after it on its connection: each ACKed once, in order" \
	eq "$(tr '\n' ' ' <"$TMP/x.out")" "AA LOSTH1 AA LOSTH3 "
check "... each stored once" eq "$(rows LOSTH1)$(rows LOSTH2)$(rows LOSTH3)" 111
check "... drained" drained 1
check "nothing written before the held frame was asked: LOSTH2, LOSTH3 through the spool" \
	eq "$(q "select count(*) from labwatch.messages where control_id in ('LOSTH2', 'LOSTH3') and spool_ref is not null")" 2
check "the refusal said once, not at every try" eq "$(grep -c 'cannot ask which frames' "$TMP/d.log")" 1
check "... and the held frame found stored" grep -q "of its frames the spool could not take, 1 are stored" "$TMP/d.log"
lwd_stop d
c=$(counters "$TMP/d.log")
echo "counters (received accounted processed duplicate refused with-the-store): $c"
# LOSTW8, LOSTH1 processed; LOSTH2, LOSTH3 spooled
check "the counters add up: 4 4 2 0 0 0" eq "$c" "4 4 2 0 0 0"
cp "$TMP/d.log" "$TMP/d5.log"

# 9. The drain's own COMMIT answer lost: a frame with no identity spooled
# in an outage (an LWR1 record, no row id) and one with an identity, in
# the drain batch whose answer the proxy loses after the server
# committed; the next drain step offers them with new ids, and finds
# them by their spool_ref (the unique index messages_spool_ref): one row
# each. (A suspicion of the review of fault-defects, not confirmed:
# passes before and after; it guards that index.) LOSTX9 goes first, so
# that labwatchd finds the database gone before LOSTQ9 comes.
case_start 9 "$REAL_LABWATCHD" LOSTPAT11
pg_stop "$PGD" >/dev/null
out=$(frames LOSTX9:LOSTPAT11:s)
check "the database stopped: AA (spooled)" eq "$out" "AA LOSTX9"
noid LOSTQ9 >"$TMP/q9.hl7"
out=$(mllp_acks "$TMP/q9.hl7")
check "no MSH-10: AE (spooled)" eq "$out" "AE "
pg_start "$PGD" >/dev/null
check "... drained" drained 1
check "the proxy lost the drain's answer after the commit" \
	grep -Eq "dropped LOSTQ9 after (commit|ins_new) status I" "$TMP/proxy.log"
check "... one row of the frame with no identity" \
	eq "$(rows_raw LOSTQ9)" 1
check "... one of LOSTX9" eq "$(rows LOSTX9)" 1
lwd_stop d
check "... nothing left in the spool" grep -q "2 drained from the spool, 0 still spooled" "$TMP/d.log"
cp "$TMP/d.log" "$TMP/d9.log"

# 6. SIGTERM while a frame is held and the database does not come back
# (the proxy refuses every connection from LOSTG1's lost answer on):
# labwatchd stops within seconds, the held frame answered AR. Before the
# fix its connection kept the daemon running (after the 30 s deadline
# too: a connection with frames in flight is never freed).
case_start 6 "$LIMITED" LOSTPAT7
frames LOSTG1:LOSTPAT7 >"$TMP/g.out" &
gsend=$!
for _ in $(seq 100); do grep -q "dropped LOSTG1" "$TMP/proxy.log" && break; sleep 0.1; done
check "the proxy lost LOSTG1's answer, and refuses from then on" \
	grep -Eq "dropped LOSTG1 after (commit|ins_new) status I" "$TMP/proxy.log"
sleep 2
check "... held: not answered while the database is away" test ! -s "$TMP/g.out"
pid=$(cat "$TMP/d.pid")
kill -TERM "$pid"
for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	not_ok "SIGTERM: labwatchd stopped within 15 s" "still running"
	pkill -9 -P "$pid" # labwatchd, under its limited wrapper
	kill -9 "$pid"
else
	ok "SIGTERM: labwatchd stopped within 15 s"
fi
wait "$pid" 2>/dev/null
rm -f "$TMP/d.pid"
wait $gsend
check "... the held frame answered AR ($(cat "$TMP/g.out"))" test "$(cat "$TMP/g.out")" = "AR LOSTG1"
check "... said so" grep -q "stopping without a database to ask: 1 frames" "$TMP/d.log"
check "no patient identifiers in labwatchd's logs" sh -c "! grep -q 'LOSTPAT' '$TMP/d.log' '$TMP'/d[1-9].log"
done_testing
