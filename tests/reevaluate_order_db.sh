#!/bin/sh
# labwatch reevaluate writes the alerts of an earlier episode after those
# of a later one: their ids are higher. labwatchd took the alert of the
# highest id for the latest ended episode of its analyte (rows.c
# sel_open_alerts), so when the result that ended the earlier episode was
# then deleted, it reopened that alert beside the later episode's open
# one: refused by alerts_one_open_episode, the deletion was quarantined
# (AE) and the deleted result stood. The latest ended episode is now one
# that no alert written after it nor resting on a later result follows.
#
# Each case: messages fed to labwatchd, a change and labwatch reevaluate,
# then the deletion of the result of the 12th that ended the first
# episode; its alerts are then compared with those of a labwatchd that
# ran under the change from the start (ids aside).
#   YA  ALT grade 2 on the 10th, normal on the 12th, grade 3 on the 14th;
#       the protocol's alert grade lowered to 2 (a new alert on the 10th).
#   ZC  ALT grade 2 on the 10th, grade 3 on the 12th, normal on the 14th;
#       the alert grade lowered to 2: reevaluate writes the 10th's alert,
#       superseded by the 12th's, after it; then the 14th deleted. The
#       12th's alert (grade 3, the episode's head) is the one reopened.
#   ZD  ALT grade 2, 3, 4 on the 10th, 12th, 14th; the same change; then
#       the 14th deleted: the grade-3 alert reopened, not the grade 2.
#   YB  the same grade 3 on the 10th and the 14th, the 10th's and 12th's
#       results stored before the enrollment, which is then backdated
#       (reevaluate --patient: a new alert on the 10th, its hold moved there).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/reevaluate_lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite reevorder

PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
mkdir -p "$TMP/data/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/data/"
LOW="$TMP/data/protocols/low.conf"
sed 's/^alert_grade = 3$/alert_grade = 2/' "$PROTO" >"$LOW"
ALT="1742-6|NM"

# results PATIENT FIRST: ALT FIRST U/L on the 10th, 30 (normal) on the 12th
results() {
	oru "$1" "${1}1" 20261110090000+0000 "$ALT|$2|U/L|10-40"
	oru "$1" "${1}2" 20261112090000+0000 "$ALT|30|U/L|10-40"
}
later() { oru "$1" "${1}3" 20261114090000+0000 "$ALT|250|U/L|10-40"; }
# The deletion of the 12th's result, under a control id of its own.
deletion() {
	(ORU_STATUS=D && oru "$1" "${1}2" 20261112090000+0000 "$ALT|30|U/L|10-40") |
		sed "s/|${1}2|P|2.5.1/|${1}2D|P|2.5.1/"
}
dbname=$(psql -X -A -t -q -c "select current_database()")
# daemon NAME DB PROTOCOL: a labwatchd on DB judging under PROTOCOL
daemon() {
	lwd_db_conf "$TMP/$1.conf" "db = $LABWATCH_DB dbname=$2 connect_timeout=2
protocol = $3
spool_path = $PGD/spool-$1"
	lwd_start "$1" "$TMP/$1.conf"
}
send() { # FILE...: every message ACKed AA
	"$LW" replay --host 127.0.0.1 --port "$port" --timeout 10 "$@" >"$TMP/send.out" 2>&1 ||
		{ echo "replay of $*: $(cat "$TMP/send.out")"; return 1; }
}
enroll() { "$LW" enroll --db "$LABWATCH_DB dbname=$1" "$2" --phase neoadjuvant --since "$3" >/dev/null; }
# alerts DB PATIENT: "kind:grade:state:value:resolved by", sorted
alerts() {
	psql -X -A -t -q -d "$LABWATCH_DB dbname=$1" -c "select coalesce(string_agg(s, ',' order by s), '') from (select a.kind || ':' || coalesce(a.grade::text, '-') || ':' || a.state || ':' || coalesce(o.value_raw, '-') || ':' || coalesce(r.value_raw, '-') as s from labwatch.alerts a join labwatch.patients p on p.id = a.patient left join labwatch.observations o on o.id = a.observation left join labwatch.observations r on r.id = a.resolved_by_observation where p.patient_id = '$2') t"
}
outcome() { q "select string_agg(outcome || ' ' || ack_code, ',') from labwatch.messages where control_id = '${1}2D'"; }

# --- YA: the protocol changed
results YA 150 >"$TMP/ya1.hl7"
later YA >>"$TMP/ya1.hl7"
deletion YA >"$TMP/ya2.hl7"
q "create database live_low" >/dev/null
q "create database live_std" >/dev/null
for db in "$dbname" live_low live_std; do
	"$LW" migrate --sql-dir "$top_srcdir/sql" --db "$LABWATCH_DB dbname=$db" >/dev/null 2>"$TMP/migrate.err" ||
		cat "$TMP/migrate.err"
done
enroll "$dbname" YA 2026-11-01
daemon m "$dbname" "$PROTO"
check "YA: fed under grade 3" send "$TMP/ya1.hl7"
lwd_stop m
check "YA: one alert (the 14th) under grade 3" eq "$(alerts "$dbname" YA)" \
	"hold:-:open:250:-,toxicity:3:open:250:-"
rev --protocol-file "$LOW" >"$TMP/ya.out"
check "YA: grade 2: the 10th's episode new, ended by the 12th" eq "$(changes "$TMP/ya.out")" \
	"new recovery YA alt 0;new toxicity YA alt 2"
daemon m "$dbname" "$LOW"
check "YA: the deletion ACKed AA" send "$TMP/ya2.hl7"
lwd_stop m
check "YA: the deletion processed, not quarantined" eq "$(outcome YA)" "processed AA"
enroll live_low YA 2026-11-01
daemon l live_low "$LOW"
check "YA: fed live under grade 2" send "$TMP/ya1.hl7"
check "YA: the deletion, live" send "$TMP/ya2.hl7"
lwd_stop l
check "YA: the alerts labwatchd left live under grade 2" eq "$(alerts live_low YA)" \
	"hold:-:open:250:-,recovery:0:retracted:30:-,toxicity:2:resolved:150:30,toxicity:3:open:250:-"
check "YA: the same after reevaluate and the deletion" eq "$(alerts "$dbname" YA)" "$(alerts live_low YA)"
rev --protocol-file "$LOW" >/dev/null
rev --protocol-file "$LOW" >"$TMP/ya3.out"
check "YA: reevaluate twice: nothing the second time" eq "$(changes "$TMP/ya3.out")" ""

# --- ZC, ZD: reevaluate's alert inside an episode
msg() { (ORU_STATUS=${ST:-F} && oru "$1" "$2" "202611${3}090000+0000" "$ALT|$4|U/L|10-40") |
	sed "s/|$2|P|2.5.1/|$2${SUF:-}|P|2.5.1/"; }
{ msg ZC ZC1 10 150; msg ZC ZC2 12 250; msg ZC ZC3 14 30; } >"$TMP/zc1.hl7"
ST=D SUF=D msg ZC ZC3 14 30 >"$TMP/zc2.hl7"
{ msg ZD ZD1 10 150; msg ZD ZD2 12 250; msg ZD ZD3 14 900; } >"$TMP/zd1.hl7"
ST=D SUF=D msg ZD ZD3 14 900 >"$TMP/zd2.hl7"
for db in "$dbname" live_low; do
	enroll "$db" ZC 2026-11-01
	enroll "$db" ZD 2026-11-01
done
daemon m "$dbname" "$PROTO"
check "ZC, ZD: fed under grade 3" send "$TMP/zc1.hl7" "$TMP/zd1.hl7"
lwd_stop m
rev --protocol-file "$LOW" --patient ZC >"$TMP/zc.out"
rev --protocol-file "$LOW" --patient ZD >"$TMP/zd.out"
check "ZC, ZD: grade 2: the 10th's alerts new" eq "$(changes "$TMP/zc.out")$(changes "$TMP/zd.out")" \
	"new toxicity ZC alt 2new toxicity ZD alt 2"
daemon m "$dbname" "$LOW"
check "ZC, ZD: the deletions ACKed AA" send "$TMP/zc2.hl7" "$TMP/zd2.hl7"
lwd_stop m
daemon l live_low "$LOW"
check "ZC, ZD: fed live under grade 2, and the deletions" send "$TMP/zc1.hl7" "$TMP/zd1.hl7" "$TMP/zc2.hl7" "$TMP/zd2.hl7"
lwd_stop l
check "ZC: the grade-3 alert reopened, as live" eq "$(alerts "$dbname" ZC)" "$(alerts live_low ZC)"
check "ZC: live: the grade 3 open, the grade 2 it superseded resolved" eq "$(alerts live_low ZC | tr , '\n' | grep '^toxicity' | paste -sd, -)" \
	"toxicity:2:resolved:150:-,toxicity:3:open:250:-"
check "ZD: the grade-3 alert reopened, as live" eq "$(alerts "$dbname" ZD)" "$(alerts live_low ZD)"
check "ZD: live: the grade 3 open" eq "$(alerts live_low ZD | tr , '\n' | grep '^toxicity' | paste -sd, -)" \
	"toxicity:2:resolved:150:-,toxicity:3:open:250:-,toxicity:4:retracted:900:-"

# --- RB: an alert reevaluate retracted (its result standing) does not end
#     an episode's claim to be the latest: under alert grade 2, ALT 250 on
#     the 10th (A), 30 on the 11th, 150 on the 12th (B, grade 2), 30 on the
#     13th, 30 with an unreadable range on the 14th; reevaluate under grade
#     3 retracts B; then the 12th, 13th and 11th deleted: the 250 of the
#     10th stands, and A is open again (from scratch: A open).
{
	msg RB RB1 10 250
	msg RB RB2 11 30
	msg RB RB3 12 150
	msg RB RB4 13 30
	(ORU_STATUS=F && oru RB RB5 20261114090000+0000 "$ALT|30|U/L|see note")
} >"$TMP/rb1.hl7"
{
	ST=D SUF=D msg RB RB3 12 150
	ST=D SUF=D msg RB RB4 13 30
	ST=D SUF=D msg RB RB2 11 30
} >"$TMP/rb2.hl7"
enroll "$dbname" RB 2026-11-01
daemon m "$dbname" "$LOW"
check "RB: fed under grade 2" send "$TMP/rb1.hl7"
lwd_stop m
rev --protocol-file "$PROTO" --patient RB >"$TMP/rb.out"
check "RB: grade 3: the grade-2 alert retracted" eq "$(changes "$TMP/rb.out" | tr ';' '\n' | grep -c '^retracted toxicity')" 1
daemon m "$dbname" "$PROTO"
check "RB: the deletions ACKed AA" send "$TMP/rb2.hl7"
lwd_stop m
check "RB: the 10th's grade-3 alert open again" eq \
	"$(alerts "$dbname" RB | tr , '\n' | grep '^toxicity:3:open:250:')" "toxicity:3:open:250:-"

# --- RO: reevaluate opens a system-resolved alert again (under alert grade
#     2 the 12th's ALT 150, grade 2, no longer ends the episode of the
#     10th's 250): its reopen event (sql/019) names the protocol file, as
#     reevaluate's retractions do, and the recovery line is retracted.
{ msg RO RO1 10 250; msg RO RO2 12 150; } >"$TMP/ro1.hl7"
enroll "$dbname" RO 2026-11-01
daemon m "$dbname" "$PROTO"
check "RO: fed under grade 3" send "$TMP/ro1.hl7"
lwd_stop m
rev --protocol-file "$LOW" --patient RO >"$TMP/ro.out"
check "RO: grade 2: the grade-3 alert open again, its reopen naming the protocol file" eq \
	"$(q "select a.state || ' ' || string_agg(e.event || ':' || coalesce(e.note, '-'), ',' order by e.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient join labwatch.alert_events e on e.alert = a.id where p.patient_id = 'RO' and a.kind = 'toxicity' group by a.state")" \
	"open trigger:-,resolve:recovered: a later result is below the alert grade,reopen:reopened: re-evaluated under sha256:$(sha256sum "$LOW" | cut -d' ' -f1)"

# --- YB: the enrollment backdated
results YB 250 >"$TMP/yb0.hl7"
later YB >"$TMP/yb1.hl7"
deletion YB >"$TMP/yb2.hl7"
daemon m "$dbname" "$PROTO"
check "YB: fed before the enrollment" send "$TMP/yb0.hl7"
enroll "$dbname" YB 2026-11-13
check "YB: then the 14th" send "$TMP/yb1.hl7"
lwd_stop m
check "YB: one alert (the 14th)" eq "$(alerts "$dbname" YB)" \
	"hold:-:open:250:-,toxicity:3:open:250:-"
enroll "$dbname" YB 2026-11-01
rev --protocol-file "$PROTO" --patient YB >"$TMP/yb.out"
check "YB: backdated: the 10th's episode new, ended by the 12th" eq "$(changes "$TMP/yb.out")" \
	"new hold YB alt None;new recovery YB alt 0;new toxicity YB alt 3;retracted hold YB None None"
daemon m "$dbname" "$PROTO"
check "YB: the deletion ACKed AA" send "$TMP/yb2.hl7"
lwd_stop m
check "YB: the deletion processed, not quarantined" eq "$(outcome YB)" "processed AA"
enroll live_std YB 2026-11-01
daemon l live_std "$PROTO"
check "YB: fed live, enrolled from the 1st" send "$TMP/yb0.hl7"
check "YB: the 14th, live" send "$TMP/yb1.hl7"
check "YB: the deletion, live" send "$TMP/yb2.hl7"
lwd_stop l
# The hold labwatchd put on the 14th stays retracted (reevaluate moved it).
check "YB: the same after reevaluate and the deletion as live (but retracted rows)" eq \
	"$(alerts "$dbname" YB | tr , '\n' | grep -v ':retracted:' | paste -sd, -)" \
	"$(alerts live_std YB | tr , '\n' | grep -v ':retracted:' | paste -sd, -)"
check "YB: the recovery line retracted, as live" eq "$(alerts "$dbname" YB | tr , '\n' | grep '^recovery')" \
	"$(alerts live_std YB | tr , '\n' | grep '^recovery')"
rev --protocol-file "$PROTO" --patient YB >/dev/null
rev --protocol-file "$PROTO" --patient YB >"$TMP/yb3.out"
check "YB: reevaluate twice: nothing the second time" eq "$(changes "$TMP/yb3.out")" ""

done_testing
