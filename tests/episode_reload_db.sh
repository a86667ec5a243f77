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
for db in cont rel; do
	q "create database $db" >/dev/null
	"$LW" migrate --sql-dir "$top_srcdir/sql" --db "$LABWATCH_DB dbname=$db" >/dev/null 2>"$TMP/migrate.err" ||
		cat "$TMP/migrate.err"
	for pid in ZA ZB; do
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
} >"$TMP/za1.hl7"
ST=D SUF=D msg ZA ZA6 16 30 >"$TMP/za2.hl7"
{
	msg ZB ZB1 10 250
	msg ZB ZB2 14 250
	msg ZB ZB3 12 900
	ST=C SUF=C msg ZB ZB3 12 250
	msg ZB ZB6 16 30
	msg ZB ZB7 17 30 "see note"
} >"$TMP/zb1.hl7"
ST=D SUF=D msg ZB ZB6 16 30 >"$TMP/zb2.hl7"

daemon c cont
pc=$port
daemon r rel
pr=$port
for pid in za zb; do
	check "$pid: fed (running throughout)" send $pc "$TMP/${pid}1.hl7"
	check "$pid: fed (to be restarted)" send $pr "$TMP/${pid}1.hl7"
done
check "ZA: before the deletion, A ended by the 16th" eq "$(toxicity cont ZA)" \
	"3:resolved:250@10:-,3:resolved:250@14:30@16,4:resolved:900@12:-"
check "ZB: before the deletion, X ended by the 16th" eq "$(toxicity cont ZB)" \
	"3:resolved:250@10:30@16,4:resolved:900@12:-"
lwd_stop r
daemon r rel
pr=$port
for pid in za zb; do
	check "$pid: the deletion (running throughout)" send $pc "$TMP/${pid}2.hl7"
	check "$pid: the deletion (restarted)" send $pr "$TMP/${pid}2.hl7"
done
lwd_stop r
lwd_stop c
check "ZA: A reopened" eq "$(toxicity cont ZA)" \
	"3:open:250@14:-,3:resolved:250@10:-,4:resolved:900@12:-"
check "ZB: X reopened" eq "$(toxicity cont ZB)" \
	"3:open:250@10:-,4:resolved:900@12:-"
for pid in ZA ZB; do
	check "$pid: a restart changes nothing" eq "$(toxicity rel $pid)" "$(toxicity cont $pid)"
done
done_testing
