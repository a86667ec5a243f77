#!/bin/sh
# Two labwatchd on one database, each with alert ids reserved ahead
# (4,096 at a time): a patient's alert ids need not ascend in the order
# they were raised, and labwatchd reads "the latest episode" of an analyte
# by alert id when it loads a patient another writer wrote (rows.c
# sel_open_alerts: b.id > a.id; verdict.c episode_standing: the past
# alert of highest id). Both pools are now reserved again under the
# patients' locks when another writer stored above them
# (plock_drop_ids_behind: the results' since reeval-cases, the toxicity
# alerts' since this test).
#
# IB: ALT 6.25 x ULN on the 10th, normal on the 11th, both judged by b
# (its alert ids the higher); 6.25 x ULN again on the 12th and normal on
# the 13th, judged by a (a second episode, lower alert ids). Then the 11th
# deleted, sent to b (it reloads IB: a wrote it). One labwatchd (IS, the
# same feed to a alone) leaves the first episode ended on the 11th and adds
# no alert (store_db.sh W607: a new episode began after it); b took the
# first episode for the latest ended one, moved its end to the 13th and
# added a recovery line.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite haalertids

send() { "$LW" replay --host 127.0.0.1 --port "$1" --timeout 10 "$2" >>"$TMP/replay.out" 2>&1; }
# alerts PATIENT: "kind:analyte:grade:state", sorted (ids are not the order)
alerts() {
	q "select coalesce(string_agg(s, ',' order by s), '') from (select a.kind || ':' || coalesce(a.analyte, '-') || ':' || coalesce(a.grade::text, '-') || ':' || a.state as s from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$1') t"
}
again() { sed "s/|O$1|F$1|/|O$2|F$2|/"; }
ALT="1742-6|NM"

lwd_db_conf "$TMP/a.conf" "spool_path = $PGD/spool-a"
lwd_db_conf "$TMP/b.conf" "spool_path = $PGD/spool-b"
lwd_start a "$TMP/a.conf"
pa=$port
oru WARM W0 20261101090000+0000 "$ALT|30|U/L|10-40" >"$TMP/w0.hl7"
send $pa "$TMP/w0.hl7"
# b starts after a reserved its ids: b's are higher.
lwd_start b "$TMP/b.conf"
pb=$port
oru WARM W1 20261101090000+0000 "$ALT|30|U/L|10-40" >"$TMP/w1.hl7"
send $pb "$TMP/w1.hl7"
for p in IB IS; do
	"$LW" enroll $p --phase neoadjuvant --since 2026-11-01 >/dev/null
	oru $p ${p}1 20261110090000+0000 "$ALT|250|U/L|10-40" >"$TMP/${p}1.hl7"
	oru $p ${p}2 20261111090000+0000 "$ALT|30|U/L|10-40" >"$TMP/${p}2.hl7"
	oru $p ${p}3 20261112090000+0000 "$ALT|250|U/L|10-40" >"$TMP/${p}3.hl7"
	oru $p ${p}4 20261113090000+0000 "$ALT|30|U/L|10-40" >"$TMP/${p}4.hl7"
	(ORU_STATUS=D && oru $p ${p}2D 20261111090000+0000 "$ALT|30|U/L|10-40" |
	    again ${p}2D ${p}2) >"$TMP/${p}5.hl7"
done
for f in 1 2 3 4 5; do send $pa "$TMP/IS$f.hl7"; done
send $pb "$TMP/IB1.hl7"
send $pb "$TMP/IB2.hl7"
send $pa "$TMP/IB3.hl7"
send $pa "$TMP/IB4.hl7"
send $pb "$TMP/IB5.hl7"
check "one labwatchd: the first episode stays ended, no alert added" eq \
	"$(alerts IS)" \
	"hold:alt:-:open,recovery:alt:0:open,recovery:alt:0:retracted,toxicity:alt:3:resolved,toxicity:alt:3:resolved"
check "two labwatchd: as one (alert ids not in the order raised)" eq \
	"$(alerts IB)" "$(alerts IS)"
lwd_stop a
ra=$?
lwd_stop b
check "both daemons exit 0" eq "$ra $?" "0 0"
done_testing
