#!/bin/sh
# labwatch reevaluate on patients with corrected (OBX-11 C) or deleted (D)
# results: judged on the results that stand, as labwatchd derives them
# (CLINICAL.md "Alert episodes"), never left alone. A table of patients,
# each a result and its correction or deletion, judged under the protocol
# as shipped, the alert grade lowered to 2 and raised to 4; then the
# alerts open after reevaluate compared with those a labwatchd running
# the lowered protocol raised live from the same messages.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/reevaluate_lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite reevalc

PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
mkdir -p "$TMP/data/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/data/"
sed 's/^alert_grade = 3$/alert_grade = 2/' "$PROTO" >"$TMP/data/protocols/low.conf"
sed 's/^alert_grade = 3$/alert_grade = 4/' "$PROTO" >"$TMP/data/protocols/high.conf"

# The table: patient, first ALT (U/L, ULN 40) on the 10th, what follows
# it (C VALUE: its correction; D: its deletion; several: in turn, each
# under a control id of its own), then the toxicity alerts
# the results that stand imply under alert grade 3 (as shipped), 2 and 4
# ("-": none). 30 is normal, 60 grade 1, 150 grade 2, 250 grade 3.
cat >"$TMP/cases" <<'T'
XA 250 C30  - - -
XB 30  C250 3 3 -
XC 150 C250 3 3 -
XD 60  C150 - 2 -
XE 250 D    - - -
XF 150 C60  - - -
XH 60  C250,C30 - - -
XI 60  C250,D   - - -
T
# msgs: the messages of the table, in order (the correction or deletion
# is the same order, OBR-2/3, under a control id of its own).
msgs() {
	while read -r p v then _; do
		oru "$p" "${p}1" 20261110090000+0000 "1742-6|NM|$v|U/L|10-40"
		k=0
		for t in $(echo "$then" | tr , ' '); do
			k=$((k + 1))
			case $t in
			C*) (ORU_STATUS=C && oru "$p" "${p}1" 20261110090000+0000 "1742-6|NM|${t#C}|U/L|10-40") | sed "s/|${p}1|P|2.5.1/|${p}1C$k|P|2.5.1/" ;;
			D) (ORU_STATUS=D && oru "$p" "${p}1" 20261110090000+0000 "1742-6|NM|$v|U/L|10-40") | sed "s/|${p}1|P|2.5.1/|${p}1D$k|P|2.5.1/" ;;
			esac
		done
	done <"$TMP/cases"
}
# XG, outside the table: ALT grade 3 on the 10th, normal on the 12th
# (its episode ended: a recovery line), then the 10th corrected to grade 2.
xg() {
	oru XG XG1 20261110090000+0000 "1742-6|NM|250|U/L|10-40"
	oru XG XG2 20261112090000+0000 "1742-6|NM|30|U/L|10-40"
	(ORU_STATUS=C && oru XG XG1 20261110090000+0000 "1742-6|NM|150|U/L|10-40") | sed "s/|XG1|P|2.5.1/|XG1C|P|2.5.1/"
}
{ msgs; xg; } >"$TMP/in.hl7"
# want COLUMN: the table's expectation, "patient:alt:grade" sorted
want() { awk -v c="$1" '$c != "-" { print $1 ":alt:" $c }' "$TMP/cases" | sort | paste -sd, -; }
# open_alerts [DB]: toxicity alerts open, "patient:analyte:grade" sorted
open_alerts() {
	psql -X -A -t -q ${1:+-d "$1"} -c "select coalesce(string_agg(p.patient_id || ':' || a.analyte || ':' || a.grade, ',' order by p.patient_id, a.grade), '') from labwatch.alerts a join labwatch.patients p on p.id = a.patient where a.kind = 'toxicity' and a.state in ('open', 'acknowledged')"
}

# feed DBNAME PROTOCOL: the table's patients enrolled and its messages
# sent through a labwatchd judging under PROTOCOL into DBNAME.
feed() {
	db="$LABWATCH_DB dbname=$1"
	lwd_db_conf "$TMP/$1.conf" "db = $db connect_timeout=2
protocol = $2
spool_path = $PGD/spool-$1"
	lwd_start "$1" "$TMP/$1.conf"
	for p in $(cut -d' ' -f1 "$TMP/cases") XG; do
		"$LW" enroll --db "$db" "$p" --phase neoadjuvant --since 2026-11-01 >/dev/null
	done
	"$LW" replay --host 127.0.0.1 --port "$port" --timeout 10 "$TMP/in.hl7" >"$TMP/replay-$1.out" 2>&1
	lwd_stop "$1"
}
dbname=$(psql -X -A -t -q -c "select current_database()")
q "create database live_low" >/dev/null
feed "$dbname" "$PROTO"
feed live_low "$TMP/data/protocols/low.conf"
n=$(($(wc -l <"$TMP/cases") + 1))
check "fed: every message stored" eq \
	"$(q "select count(*) from labwatch.messages where outcome = 'processed'")" "$(grep -o 'MSH|' "$TMP/in.hl7" | wc -l)"
recoveries() {
	psql -X -A -t -q ${1:+-d "$1"} -c "select coalesce(string_agg(a.state, ','), '') from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'XG' and a.kind = 'recovery'"
}
check "fed live: the open alerts the table says (grade 3)" eq "$(open_alerts)" "$(want 4)"
check "fed live under grade 2: the open alerts the table says" eq "$(open_alerts live_low)" "$(want 5)"

check "fed live: XG's recovery line left open by labwatchd" eq "$(recoveries)" open
# XH, XI: the grade 3 of their first correction, closed by the second
# correction (resolved) or the deletion (retracted); never raised again.
tox_states() { q "select coalesce(string_agg(p.patient_id || ':' || a.grade || ':' || a.state, ',' order by p.patient_id), '') from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id in ('XH', 'XI') and a.kind = 'toxicity'"; }
check "fed live: XH's and XI's grade 3 closed" eq "$(tox_states)" "XH:3:resolved,XI:3:retracted"

# 1. As shipped: nothing changes; every patient judged, none left alone.
rev --protocol-file "$PROTO" >"$TMP/same.out"
check "same protocol: exit 0" test $? -eq 0
# XG: the grade-3 episode its recovery line tells of is gone with the
# correction; labwatchd left the line open, reevaluate retracts it.
check "same protocol: only XG's recovery line retracted" eq "$(changes "$TMP/same.out")" \
	"retracted recovery XG None 0"
check "same protocol: XG's recovery line retracted" eq "$(recoveries)" retracted
check "same protocol: XH's and XI's alerts untouched" eq "$(tox_states)" "XH:3:resolved,XI:3:retracted"
check "same protocol: every patient judged on what stands" json_assert "$TMP/same.out" \
	"L[-1]['patients'] == $n and L[-1]['corrected_patients'] == $n"

# 2. Grade 2: a correction upwards raises (XD), a grade-3 result corrected
#    to normal does not (XA, XF); the open alerts are those labwatchd
#    raised live under grade 2. XG's correction (grade 2) is judged in the
#    place of the result it corrects: a grade-2 episode, ended by the
#    normal result of the 12th (its alert resolved by it, a recovery line).
rev --protocol-file "$TMP/data/protocols/low.conf" >"$TMP/low.out"
check "grade 2: exit 0" test $? -eq 0
check "grade 2: XD's corrected grade 2 new, XG's grade-2 episode" eq "$(changes "$TMP/low.out")" \
	"new recovery XG alt 0;new toxicity XD alt 2;new toxicity XG alt 2"
check "grade 2: XG's alert on its correction resolved by the normal result" eq \
	"$(q "select a.state || ' ' || o.value_raw || ' ' || r.value_raw from labwatch.alerts a join labwatch.patients p on p.id = a.patient join labwatch.observations o on o.id = a.observation join labwatch.observations r on r.id = a.resolved_by_observation where p.patient_id = 'XG' and a.kind = 'toxicity' and a.grade = 2")" \
	"resolved 150 30"
check "grade 2: open alerts as the table says" eq "$(open_alerts)" "$(want 5)"
check "grade 2: open alerts as labwatchd raised them live" eq "$(open_alerts)" "$(open_alerts live_low)"
rev --protocol-file "$TMP/data/protocols/low.conf" >"$TMP/low2.out"
check "grade 2 twice: nothing the second time" eq "$(changes "$TMP/low2.out")" ""

# 3. Grade 4: the alerts on the corrections retracted; the originals'
#    alerts, closed when they were corrected, untouched.
rev --protocol-file "$TMP/data/protocols/high.conf" >"$TMP/high.out"
check "grade 4: the alerts resting on corrections retracted" eq "$(changes "$TMP/high.out")" \
	"retracted recovery XG None 0;retracted toxicity XB None 3;retracted toxicity XC None 3;retracted toxicity XD None 2;retracted toxicity XG None 2"
check "grade 4: open alerts as the table says" eq "$(open_alerts)" "$(want 6)"
check "grade 4: XA's alert on its corrected result still resolved, not retracted" eq \
	"$(q "select string_agg(a.state, ',') from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'XA' and a.kind = 'toxicity'")" resolved

# 4. Back as shipped: XB's and XC's grade 3 again.
rev --protocol-file "$PROTO" >"$TMP/back.out"
check "back: XB's and XC's grade 3 new again" eq "$(changes "$TMP/back.out")" \
	"new toxicity XB alt 3;new toxicity XC alt 3"
check "back: open alerts as the table says" eq "$(open_alerts)" "$(want 4)"
rev --protocol-file "$PROTO" >"$TMP/back2.out"
check "back twice: nothing the second time" eq "$(changes "$TMP/back2.out")" ""

done_testing
