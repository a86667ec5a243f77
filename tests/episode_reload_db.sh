#!/bin/sh
# A toxicity episode judged by a labwatchd that ran throughout and by one
# restarted before the last message (its cache of the patient loaded from
# the database, rows.c sel_open_alerts) must leave the same alerts: which
# ended episode is the latest, reopened when the result that ended it is
# deleted, is read from the results' order, not from the alerts' ids.
#
#   ZA  ALT 250 on the 10th (alert X), 250 on the 14th, a late 900 for the
#       12th (X escalated to B), the 10th corrected to 30, the 12th to 250
#       (B resolved; a new alert A raised on the 14th, an older result than
#       B's), 30 on the 16th (A ended), a 17th the rules cannot grade, then
#       the 16th deleted: A reopened (by alert id, before, A was taken for
#       the latest only while its id was compared, not its results').
#   ZB  the same without the 10th's correction: X reopened on the 12th's
#       correction keeps its lower id; 30 on the 16th ends it, the 16th
#       deleted: X reopened (before: a restarted daemon took B, of the
#       higher id, for the latest and left X resolved on a deleted result,
#       with no alert open and no page).
#
# Then a table of cases (tests/episode_gen.py says its form), each fed to
# both daemons, the restart at its "|": the two must leave the same
# toxicity and recovery alerts, and the grades of the open toxicity
# alerts must be those of a third labwatchd fed only the results that
# stand, in time order (from scratch). The review of this change found
# them: G1-G3A, a withdrawal that let an episode's results stand again
# reopened its alert at a lower grade than a standing result's (now
# escalated: verdict.c escalate_reopened); G4, H5, a retracted later
# alert counted for the cache, not for its reload (sel_open_alerts); E1,
# P1, P2 (a third review): the other reopening path, and escalations step
# by step; T1 (a fourth): two results of one time; W1, W2 (a fifth): a
# warning whose escalation was deleted was left with no alert open
# (verdict.c episode_standing). labwatch reevaluate
# then finds nothing to change (but the known differences below).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite epreload
ALT="1742-6|NM"
# msg PATIENT CID DAY VALUE [RANGE]: OBX-11 $ST (F), control id + $SUF
msg() {
	(ORU_STATUS=${ST:-F} && oru "$1" "$2" "202611${3}090000+0000" "$ALT|$4|U/L|${5:-10-40}") |
		sed "s/|$2|P|2.5.1/|$2${SUF:-}|P|2.5.1/"
}
daemon() { # NAME DB
	lwd_db_conf "$TMP/$1.conf" "db = $LABWATCH_DB dbname=$2 connect_timeout=2
spool_path = $PGD/spool-$1"
	lwd_start "$1" "$TMP/$1.conf"
}
send() { # PORT FILE: every message ACKed AA
	"$LW" replay --host 127.0.0.1 --port "$1" --timeout 10 "$2" >"$TMP/send.out" 2>&1 ||
		{ echo "replay of $2: $(cat "$TMP/send.out")"; return 1; }
}
# toxicity DB PATIENT: "grade:state:value@day:ended by value@day", sorted
toxicity() {
	psql -X -A -t -q -d "$LABWATCH_DB dbname=$1" -c "select coalesce(string_agg(s, ',' order by s), '') from (select a.grade || ':' || a.state || ':' || coalesce(o.value_raw || '@' || to_char(o.observed_at, 'DD'), '-') || ':' || coalesce(r.value_raw || '@' || to_char(r.observed_at, 'DD'), '-') as s from labwatch.alerts a join labwatch.patients p on p.id = a.patient left join labwatch.observations o on o.id = a.observation left join labwatch.observations r on r.id = a.resolved_by_observation where p.patient_id = '$2' and a.kind = 'toxicity') t"
}
cat >"$TMP/cases" <<'T'
# escalations and the grade reopened
G1 alt: R10=250; R11=900; R12=900 | D2
G2 plt: R10=<75; R11=40; R12=45 | D2
G3 plt: R10=40; R11=20; R12=22 | D2
G3A anc: R10=0.8; R11=0.3; R12=0.4 | D2
# a reopened alert escalated by a late result (the other reopening path),
# and step by step, a correction judged in its result's place (third review)
E1 alt: R10=250; R12=30; R11=900 | D2
P1 plt: R10=<75; R14=15; R11=40; R12=20 | D2
P2 plt: R10=<75; R11=40; R12=20; R13=20; C2=40 | D3
# two results of one time (a fourth review): both judged
T1 alt: R10=250; R11=900; R12=900; R12=300 | D2
# merged runs of two former episodes
G4 alt: R10=900; R11=30; R12=250; R13=30; R14=250; D5; D2 | D4
G5 hgb: R10=75; R11=125; R12=70; R13=125; R14=72; D5; D2 | D4
G6 plt: R10=<50; R11=200; R12=45; R13=200; R14=45; D5; D2 | D4
G7 alt: R10=250; R11=30; R12=900; R13=30; R14=250; D5; D2 | D4
# escalation then recovery; the recovery deleted, or the escalation's result
H1 alt: R10=250; R11=900; R12=30 | D3
H2 alt: R10=250; R11=900; R12=30 | D2
# recovery, a new episode, recovery; the last or the first end deleted
H3 alt: R10=250; R11=30; R12=250; R13=30 | D4
H4 alt: R10=250; R11=30; R12=250; R13=30 | D2
# the second episode's result deleted (a later normal, or none); the first end deleted
H5 alt: R10=250; R11=30; R12=250; D3; R13=30 | D2
H6 alt: R10=250; R11=30; R12=250; D3 | D2
# a result that did not end the episode deleted; the end moved, then deleted
H7 alt: R10=250; R11=30; R12=35 | D3
H8 alt: R10=250; R11=30; R12=35; D2 | D3
# the ending result corrected to another normal value
H9 alt: R10=250; R11=30; R12=35; C2=32 | D3
H10 alt: R10=250; R11=30; C2=32 | D2
# an escalation retracted while open, then recovered; the recovery deleted
H11 alt: R10=250; R11=900; D2; R12=30 | D3
H12 alt: R10=250; R11=900; R12=30; R13=250; R14=30 | D5
H13 alt: R10=250; R11=30; R12=250 | D3
H14 alt: R10=250; R11=30; R12=250 | D3; R13=30; D2
# a warning (a grade left open) escalated, the escalation deleted: the
# warning open again (a fifth review: no alert was left open)
W1 plt: R10=<75; R11=40 | D2
W2 plt: R10=<75; R11=40; R12=<75 | D2
# not after a correction: the corrected result judged in its place
W10 plt: R10=40; R11=<75 | C1=35
T
mkdir "$TMP/gen"
$PY "$top_srcdir/tests/episode_gen.py" "$TMP/cases" "$TMP/gen" || exit 1
CASES=$(sed 's/#.*//' "$TMP/cases" | awk 'NF > 1 { print $1 }')
# alerts DB PATIENT: toxicity and recovery alerts, "kind:grade:state:
# value@day:ended by value@day" (X: a result withdrawn), sorted
alerts() {
	psql -X -A -t -q -d "$LABWATCH_DB dbname=$1" -c "select coalesce(string_agg(s, ' ' order by s), '') from (select a.kind || ':' || coalesce(a.grade::text, '-') || ':' || a.state || ':' || coalesce(o.value_raw || '@' || to_char(o.observed_at, 'DD') || case when o.retracted then 'X' else '' end, '-') || ':' || coalesce(r.value_raw || '@' || to_char(r.observed_at, 'DD') || case when r.retracted then 'X' else '' end, '-') || case when a.severity <> 'critical' and a.kind = 'toxicity' then ':' || a.severity else '' end as s from labwatch.alerts a join labwatch.patients p on p.id = a.patient left join labwatch.observations o on o.id = a.observation left join labwatch.observations r on r.id = a.resolved_by_observation where p.patient_id = '$2' and a.kind in ('toxicity', 'recovery')) t"
}
# open_grades DB PATIENT: the grades of its open toxicity alerts
open_grades() {
	psql -X -A -t -q -d "$LABWATCH_DB dbname=$1" -c "select coalesce(string_agg(a.grade::text, ',' order by a.grade), '') from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$2' and a.kind = 'toxicity' and a.state in ('open', 'acknowledged')"
}
send_if() { [ ! -s "$2" ] || send "$1" "$2"; }
for db in cont rel std; do
	q "create database $db" >/dev/null
	"$LW" migrate --sql-dir "$top_srcdir/sql" --db "$LABWATCH_DB dbname=$db" >/dev/null 2>"$TMP/migrate.err" ||
		cat "$TMP/migrate.err"
	for pid in ZA ZB $CASES; do
		"$LW" enroll --db "$LABWATCH_DB dbname=$db" $pid --phase neoadjuvant --since 2026-11-01 >/dev/null
	done
done
{
	msg ZA ZA1 10 250
	msg ZA ZA2 14 250
	msg ZA ZA3 12 900
	ST=C SUF=C msg ZA ZA1 10 30
	ST=C SUF=C msg ZA ZA3 12 250
	msg ZA ZA6 16 30
	msg ZA ZA7 17 30 "see note"
} >"$TMP/gen/ZA.p1"
ST=D SUF=D msg ZA ZA6 16 30 >"$TMP/gen/ZA.p2"
{
	msg ZB ZB1 10 250
	msg ZB ZB2 14 250
	msg ZB ZB3 12 900
	ST=C SUF=C msg ZB ZB3 12 250
	msg ZB ZB6 16 30
	msg ZB ZB7 17 30 "see note"
} >"$TMP/gen/ZB.p1"
ST=D SUF=D msg ZB ZB6 16 30 >"$TMP/gen/ZB.p2"

daemon c cont
pc=$port
daemon r rel
pr=$port
daemon s std
ps=$port
for pid in ZA ZB $CASES; do
	check "$pid: fed (running throughout)" send_if $pc "$TMP/gen/$pid.p1"
	check "$pid: fed (to be restarted)" send_if $pr "$TMP/gen/$pid.p1"
	[ ! -e "$TMP/gen/$pid.std" ] ||
		check "$pid: the results that stand (from scratch)" send_if $ps "$TMP/gen/$pid.std"
done
lwd_stop s
check "ZA: before the deletion, A ended by the 16th" eq "$(toxicity cont ZA)" \
	"3:resolved:250@10:-,3:resolved:250@14:30@16,4:resolved:900@12:-"
check "ZB: before the deletion, X ended by the 16th" eq "$(toxicity cont ZB)" \
	"3:resolved:250@10:30@16,4:resolved:900@12:-"
lwd_stop r
daemon r rel
pr=$port
for pid in ZA ZB $CASES; do
	check "$pid: the rest (running throughout)" send_if $pc "$TMP/gen/$pid.p2"
	check "$pid: the rest (restarted)" send_if $pr "$TMP/gen/$pid.p2"
done
lwd_stop r
lwd_stop c
# labwatch reevaluate under the same protocol judges as labwatchd did
# (the escalations step by step, a correction in its result's place).
"$LW" reevaluate --json --dry-run --db "$LABWATCH_DB dbname=cont" \
	--protocol-file "$top_srcdir/rules/data/protocols/nct04933669.conf" >"$TMP/rev.out"
check "reevaluate: every patient judged" json_assert "$TMP/rev.out" "L[-1]['patients'] == $(($(echo $CASES | wc -w) + 2))"
# Known, not fixed (README, "labwatch reevaluate"): after a deletion
# merged two episodes, reevaluate retracts the alert of the later one
# that labwatchd left resolved (G4, G5, G6, H4), or takes the earlier
# of two equal grades' alerts for the open one (G5, G6), or the other
# alert's end (G7); an episode whose end was deleted with a later normal
# standing gets a recovery line from reevaluate, none from labwatchd
# (H5, H14); ZA's hold rests on the 12th's result for reevaluate, the
# 14th's for labwatchd.
check "reevaluate: nothing to change but the known differences" eq \
	"$(sed -n 's/.*"change":"[a-z]*","kind":"[a-z_]*","patient":"\([A-Z0-9]*\)".*/\1/p' "$TMP/rev.out" | sort -u | paste -sd' ' -)" \
	"G4 G5 G6 G7 H14 H4 H5 ZA"
for pid in $CASES; do
	check "$pid: a restart changes nothing" eq "$(alerts rel $pid)" "$(alerts cont $pid)"
	check "$pid: the open grades of the results that stand" eq "$(open_grades cont $pid)" "$(open_grades std $pid)"
done
check "ZA: A reopened" eq "$(toxicity cont ZA)" \
	"3:open:250@14:-,3:resolved:250@10:-,4:resolved:900@12:-"
check "ZB: X reopened" eq "$(toxicity cont ZB)" \
	"3:open:250@10:-,4:resolved:900@12:-"
for pid in ZA ZB; do
	check "$pid: a restart changes nothing" eq "$(toxicity rel $pid)" "$(toxicity cont $pid)"
done
done_testing
