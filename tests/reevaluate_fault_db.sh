#!/bin/sh
# labwatch reevaluate when its read sessions die in the middle of a run.
# reevaluate reads the next batches of patients on two sessions of its
# own while it judges and writes one on a third. 1,000 patients (eight
# batches of 128), enrolled after their results were stored, so that
# reevaluate writes every alert; the writer is held on the lock of
# patient P0200 (batch 2, the lock labwatchd's writers take), both read
# sessions are terminated, the lock let go: reevaluate stops with exit 1
# and says why (no hang); what it committed is whole batches (the patients
# with alerts are the first 128 k, each with all of its alerts); a second
# run writes the rest, a third changes nothing, and the alerts are those
# of one uninterrupted run on a copy of the database.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/reevaluate_lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite reevfault
PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"

lwd_db_conf "$TMP/d.conf"
lwd_start d "$TMP/d.conf"
# The patients' rows first, in order: reevaluate's batches go by row id.
q "INSERT INTO labwatch.patients (patient_id, authority)
   SELECT 'P' || lpad(k::text, 4, '0'), 'HOSP' FROM generate_series(1, 1000) k ORDER BY k"
# Every patient: ALT 250 U/L (6.25 x ULN: grade 3, an imatinib hold).
k=1 # not i: oru() uses it
while [ $k -le 1000 ]; do
	oru "$(printf 'P%04d' $k)" "A$k" 20261110090000+0000 "1742-6|NM|250|U/L|10-40"
	k=$((k + 1))
done >"$TMP/in.hl7"
"$LW" replay --host 127.0.0.1 --port "$port" --connections 4 --timeout 30 "$TMP/in.hl7" >"$TMP/replay.out" 2>&1
lwd_stop d
check "fed: 1,000 messages stored" eq "$(q "select count(*) from labwatch.messages where outcome = 'processed'")" 1000
q "INSERT INTO labwatch.enrollments (patient, protocol, phase, since)
   SELECT id, 'NCT04933669', 'neoadjuvant', '2026-11-01' FROM labwatch.patients"
check "fed: no alert yet (enrolled after)" eq "$(q "select count(*) from labwatch.alerts")" 0
# The same database, for an uninterrupted run to compare with.
q "CREATE DATABASE labcopy TEMPLATE labwatch" >/dev/null

# alerts [DB]: every alert as patient:kind:grade:state, in one line.
alerts() {
	psql -X -A -t -q -d "${1:-labwatch}" -c "select string_agg(p.patient_id || ':' || a.kind || ':' || coalesce(a.grade::text, '-') || ':' || a.state, ',' order by p.patient_id, a.kind, a.grade) from labwatch.alerts a join labwatch.patients p on p.id = a.patient"
}
# alerted: how many patients have an alert; prefix: whether they are the
# first ones by row id, each with as many alerts as P0001.
alerted() { q "select count(distinct patient) from labwatch.alerts"; }
prefix() {
	q "with n as (select patient, count(*) c from labwatch.alerts group by patient),
	        r as (select p.id, row_number() over (order by p.id) rn, coalesce(n.c, 0) c from labwatch.patients p left join n on n.patient = p.id)
	   select bool_and((rn <= (select count(*) from n)) = (c > 0))
	      and bool_and(c = 0 or c = (select c from r where rn = 1)) from r"
}

# The writer held on P0200's lock by another session, as a labwatchd
# writing P0200 would hold it, until it is terminated.
pg_hold_lock P0200
(
	timeout 120 "$LW" reevaluate --protocol-file "$PROTO" --json >"$TMP/r1.out" 2>"$TMP/r1.err"
	echo $? >"$TMP/r1.rc"
) &
PIDS="$PIDS $!"
check "the writer waits on P0200's lock" eq "$(pg_waiting labwatch)" yes
check "before that, the first batches were written (P0001..P0128)" \
	eq "$(q "select count(distinct patient) > 0 from labwatch.alerts")" t
check "both read sessions terminated" eq "$(q "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'labwatch' and coalesce(wait_event_type, '') <> 'Lock' and pid <> pg_backend_pid()")" 2
pg_let_go
for _ in $(seq 600); do [ -s "$TMP/r1.rc" ] && break; sleep 0.1; done
check "reevaluate stops: exit 1, not a hang or a crash" eq "$(cat "$TMP/r1.rc" 2>/dev/null)" 1
check "and says why on stderr" sh -c "grep -q '^labwatch reevaluate: .*terminat' '$TMP/r1.err'"
echo "# it said: $(head -c 300 "$TMP/r1.err")"
# The rows of the batches asked ahead are taken in while one is judged
# (pgpipe_poll): a session's end found there would drop libpq's queue,
# and its rows would come as "message type 0x44 arrived while idle".
check "and nothing else: no libpq complaint of rows unasked for" \
	eq "$(grep -vc '^labwatch reevaluate: ' "$TMP/r1.err")" 0
n1=$(alerted)
check "what it committed is whole batches, the batch it was held in too ($n1 patients)" \
	sh -c "[ $n1 -ge 256 ] && [ $n1 -lt 1000 ] && [ $((n1 % 128)) -eq 0 ]"
check "the patients alerted are the first ones, each with all its alerts" eq "$(prefix)" t

rev --protocol-file "$PROTO" >"$TMP/r2.out" 2>"$TMP/r2.err"
check "a second run: exit 0" eq "$?" 0
check "a second run writes the rest: toxicity $((1000 - n1)) new, $n1 unchanged" \
	eq "$(summary "$TMP/r2.out" toxicity)" "$((1000 - n1))/0/0/$n1"
check "every patient alerted" eq "$(alerted)" 1000
rev --protocol-file "$PROTO" >"$TMP/r3.out"
check "a third run changes nothing" eq "$(summary "$TMP/r3.out" toxicity)" "0/0/0/1000"
check "a third run: no hold changes either" eq "$(hchanges "$TMP/r3.out")" ""
"$LW" reevaluate --protocol-file "$PROTO" --db "$LABWATCH_DB dbname=labcopy" --json >"$TMP/c.out" 2>&1
check "the alerts are those of one uninterrupted run" eq "$(alerts)" "$(alerts labcopy)"
check "and there are some: a toxicity and a hold alert a patient" \
	eq "$(q "select count(*) from labwatch.alerts where kind in ('toxicity', 'hold')")" 2000

done_testing
