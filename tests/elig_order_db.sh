#!/bin/sh
# Several writers of eligibility verdicts on one database: the latest
# verdict row (by evaluated_at DESC, id DESC, as labwatch status, the
# board and reevaluate read it) is the one judged last. A writer's
# transaction begins before it waits for the patients' locks; a verdict
# stamped with the transaction's start (now()) would go behind one that
# another writer judged while it waited. Each case holds, from psql, the
# lock of a patient K that sorts before the screening patient S (the
# writers lock a batch's patients in key order), so that the first
# writer has begun its transaction and waits on K without holding S;
# the second writer judges S meanwhile; a second later K is let go and
# the first judges S, last:
#   1. labwatchd a: a message with a group of K and one of S (its
#      results, of the 12th, make S eligible); labwatchd b meanwhile
#      stores S's platelets 60 of the 11th (ineligible);
#   2. labwatch reevaluate under thresholds moved (platelets < 100
#      excludes), its batch holding K2 and S2; labwatchd b meanwhile
#      stores S2's platelets 95 of the 11th (eligible as shipped);
#      reevaluate then judges S2 ineligible.
# In both the latest row must be the last judged (and agree with
# enrollments.eligibility_status), and every patient's rows in
# evaluated_at order be in id order (the order they were inserted).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/reevaluate_lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite eligorder

PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
mkdir -p "$TMP/data/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/data/"
sed -e 's/^exclude = < 75$/exclude = < 100/' \
	-e 's/^text = platelets < 75 x 10^9\/L$/text = platelets < 100 x 10^9\/L/' \
	"$PROTO" >"$TMP/data/protocols/moved.conf"
check "moved.conf: the platelet threshold moved" eq \
	"$(diff "$PROTO" "$TMP/data/protocols/moved.conf" | grep -c '^>')" 2

normal='1742-6|NM|30|U/L|10-40 1920-8|NM|25|U/L|10-40 1975-2|NM|0.8|mg/dL|0.2-1.2 2160-0|NM|0.9|mg/dL|0.6-1.2 751-8|NM|3.2|10*9/L|1.8-7.5 718-7|NM|13.5|g/dL|12.0-16.0'
# panel PATIENT CONTROL DAY PLT: a full screening panel, platelets PLT
panel() {
	# shellcheck disable=SC2086
	oru "$1" "$2" "202611${3}090000+0000" "777-3|NM|$4|10*9/L|150-400" $normal
}
# grp ARGS: panel ARGS without its MSH: one more patient group
grp() { panel "$@" | tr '\r' '\n' | grep -v '^MSH' | tr '\n' '\r'; }
send() { "$LW" replay --host 127.0.0.1 --port "$1" --timeout 60 "$2" >>"$TMP/replay.out" 2>&1; }
# pair A B: "A B" when A's lock key sorts before B's, else "B A"
pair() {
	if [ "$(q "select hashtext('$1') < hashtext('$2')")" = t ]; then echo "$1 $2"; else echo "$2 $1"; fi
}
# latest PATIENT: its latest verdict row, "control:status"
latest() {
	q "select m.control_id || ':' || x.status from labwatch.eligibility x join labwatch.patients p on p.id = x.patient join labwatch.messages m on m.id = x.message where p.patient_id = '$1' order by x.evaluated_at desc, x.id desc limit 1"
}
estatus() { q "select e.eligibility_status from labwatch.enrollments e join labwatch.patients p on p.id = e.patient where p.patient_id = '$1'"; }
# inversions: verdict rows of one patient whose time order is not their
# id order
inversions() {
	q "select count(*) from labwatch.eligibility x join labwatch.eligibility y on y.patient = x.patient and y.id > x.id where y.evaluated_at < x.evaluated_at"
}

lwd_db_conf "$TMP/a.conf" "spool_path = $PGD/spool-a"
lwd_db_conf "$TMP/b.conf" "spool_path = $PGD/spool-b"
lwd_start a "$TMP/a.conf"
pa=$port
lwd_start b "$TMP/b.conf"
pb=$port

# --- 1. two labwatchd ----------------------------------------------------
read -r K S <<EOF
$(pair OK1 OS1)
EOF
"$LW" enroll "$S" --phase screening --since 2026-11-01 >/dev/null
{ panel "$K" MA 12 250; grp "$S" MA 12 250; } >"$TMP/ma.hl7"
panel "$S" MB 11 60 >"$TMP/mb.hl7"
pg_hold_lock "$K"
send "$pa" "$TMP/ma.hl7" &
sa=$!
check "labwatchd: a's batch waits on $K's lock" eq "$(pg_waiting labwatchd)" yes
sleep 1.5
send "$pb" "$TMP/mb.hl7"
check "labwatchd: b stored $S's message meanwhile" eq \
	"$(q "select count(*) from labwatch.messages where control_id = 'MB' and outcome = 'processed'")" 1
check "labwatchd: a still waits" eq \
	"$(q "select count(*) from labwatch.messages where control_id = 'MA'")" 0
pg_let_go
wait $sa
check "labwatchd: a stored its message once let go" eq \
	"$(q "select count(*) from labwatch.messages where control_id = 'MA' and outcome = 'processed'")" 1
check "labwatchd: $S's verdicts, in the order judged" eq \
	"$(q "select string_agg(m.control_id || ':' || x.status, ',' order by x.id) from labwatch.eligibility x join labwatch.patients p on p.id = x.patient join labwatch.messages m on m.id = x.message where p.patient_id = '$S'")" \
	"MB:ineligible,MA:eligible"
check "labwatchd: the latest verdict row is a's, judged last" eq "$(latest "$S")" MA:eligible
check "labwatchd: and agrees with the enrollment's status" eq "$(estatus "$S")" eligible
check "labwatchd: labwatch status shows it" json_assert \
	"$("$LW" status --json "$S" >"$TMP/st1.json"; echo "$TMP/st1.json")" \
	'L[0]["eligibility"]["status"] == "eligible"'
check "labwatchd: verdict rows in time order are in id order" eq "$(inversions)" 0

# --- 2. labwatch reevaluate ----------------------------------------------
read -r K2 S2 <<EOF
$(pair OK2 OS2)
EOF
for p in "$K2" "$S2"; do
	"$LW" enroll "$p" --phase screening --since 2026-11-01 >/dev/null
done
{ panel "$K2" N1 10 90; panel "$S2" N2 10 90; } >"$TMP/n.hl7"
send "$pb" "$TMP/n.hl7"
check "reevaluate: $K2 and $S2 eligible as shipped" eq "$(latest "$K2") $(latest "$S2")" \
	"N1:eligible N2:eligible"
panel "$S2" N3 11 95 >"$TMP/n3.hl7"
pg_hold_lock "$K2"
(
	"$LW" reevaluate --protocol-file "$TMP/data/protocols/moved.conf" --json >"$TMP/r.out" 2>"$TMP/r.err"
	echo $? >"$TMP/r.rc"
) &
PIDS="$PIDS $!"
check "reevaluate: its writer waits on $K2's lock" eq "$(pg_waiting labwatch)" yes
sleep 1.5
send "$pb" "$TMP/n3.hl7"
check "reevaluate: b stored $S2's message meanwhile, eligible as shipped" eq \
	"$(latest "$S2")" N3:eligible
pg_let_go
for _ in $(seq 600); do [ -s "$TMP/r.rc" ] && break; sleep 0.1; done
check "reevaluate: exit 0" eq "$(cat "$TMP/r.rc" 2>/dev/null)" 0
check "reevaluate: $K2 judged again too" eq "$(latest "$K2")" N1:ineligible
check "reevaluate: the latest verdict row is reevaluate's, judged last" eq \
	"$(latest "$S2")" N3:ineligible
check "reevaluate: and agrees with the enrollment's status" eq "$(estatus "$S2")" ineligible
check "reevaluate: verdict rows in time order are in id order" eq "$(inversions)" 0

lwd_stop a
ra=$?
lwd_stop b
check "both daemons exit 0" eq "$ra $?" "0 0"
done_testing
