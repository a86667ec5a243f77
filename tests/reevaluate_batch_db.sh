#!/bin/sh
# labwatch reevaluate over more patients than one batch (128): 300
# patients stored through labwatchd, then enrolled (so that only
# reevaluate writes their alerts). Each patient's alerts are what its own
# results imply, wherever the batches split (the patients either side of
# 128 and 256 have escalations and recoveries); a run of every patient
# gives, for the patients at a boundary, the change lines `--patient`
# gives for each alone (written and dry, with --since too); every
# patient written is bumped once, in its batch's transaction; a second
# run changes nothing.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/reevaluate_lib.sh"
. "$top_srcdir/tests/pg.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"

if ! pg_bindir >/dev/null 2>&1; then
	echo "SKIP: no PostgreSQL server installed"
	exit 77
fi
PGD=$(mktemp -d /tmp/lw-reevalb.XXXXXX)
chmod 755 "$PGD"
cleanup() {
	[ -f "$TMP/d.pid" ] && kill -9 "$(cat "$TMP/d.pid")" 2>/dev/null
	pg_stop "$PGD" >/dev/null 2>&1 || pg_kill9 "$PGD" >/dev/null 2>&1
	rm -rf "$PGD" "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
pg_start "$PGD" >/dev/null || { echo "cannot start PostgreSQL"; exit 1; }
q() { psql -X -A -t -q -c "$1"; }

PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
mkdir -p "$TMP/data/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/data/"
sed 's/^alert_grade = 3$/alert_grade = 2/' "$PROTO" >"$TMP/data/protocols/low.conf"
LOW="$TMP/data/protocols/low.conf"
cat >"$TMP/d.conf" <<EOF2
[labwatchd]
listen = 127.0.0.1:0
db = $LABWATCH_DB connect_timeout=2
migrate = yes
sql_dir = $top_srcdir/sql
protocol = $PROTO
spool_path = $PGD/spool
EOF2
lwd_start d "$TMP/d.conf"
# The patients' rows made first, in order, so that the batches (by row
# id) split where this test says; the daemon finds them (ins_patient).
q "INSERT INTO labwatch.patients (patient_id, authority)
   SELECT 'P' || lpad(k::text, 3, '0'), 'HOSP' FROM generate_series(1, 300) k ORDER BY k"

# Patient k (P001..P300, first seen in that order: row ids in that order):
# ALT 250 U/L (grade 3) on the 10th when k is odd, 150 (grade 2) when
# even; those with k % 10 in (7, 8, 9), and 127-130 and 255-258, also
# ALT 330 (grade 3, higher) on the 11th, and 30 (normal) on the 12th:
# an escalation or a new grade, and a recovery.
k=1 # not i: oru() uses it
while [ $k -le 300 ]; do
	p=$(printf 'P%03d' $k)
	if [ $((k % 2)) -eq 1 ]; then v=250; else v=150; fi
	oru "$p" "A$k" 20261110090000+0000 "1742-6|NM|$v|U/L|10-40"
	case $((k % 10)):$k in
	7:* | 8:* | 9:* | *:127 | *:128 | *:129 | *:130 | *:255 | *:256 | *:257 | *:258)
		oru "$p" "B$k" 20261111090000+0000 "1742-6|NM|330|U/L|10-40"
		oru "$p" "C$k" 20261112090000+0000 "1742-6|NM|30|U/L|10-40" ;;
	esac
	k=$((k + 1))
done >"$TMP/in.hl7"
"$LW" replay --host 127.0.0.1 --port "$port" --timeout 30 "$TMP/in.hl7" >"$TMP/replay.out" 2>&1
lwd_stop d
nmsg=$(tr '\r' '\n' <"$TMP/in.hl7" | grep -c '^MSH')
check "fed: every message stored" eq "$(q "select count(*) from labwatch.messages where outcome = 'processed'")" "$nmsg"
check "fed: 300 patients, in order" eq \
	"$(q "select count(*) || ' ' || bool_and(rn = substr(patient_id, 2)::int) from (select patient_id, row_number() over (order by id) rn from labwatch.patients) x")" "300 true"
q "INSERT INTO labwatch.enrollments (patient, protocol, phase, since)
   SELECT id, 'NCT04933669', 'neoadjuvant', '2026-11-01' FROM labwatch.patients"
check "fed: no alert yet (enrolled after)" eq "$(q "select count(*) from labwatch.alerts")" 0

versions() { q "select string_agg(patient_id || ':' || version, ',' order by patient_id) from labwatch.patients"; }
# The patients either side of each batch boundary.
EDGE="P127 P128 P129 P130 P255 P256 P257 P258"

# What each patient's results imply, computed here from the table above.
# Alert grade 3: odd k, a grade-3 alert on the 10th; with the 11th and
# 12th, a grade-3 alert (even: new; odd: the same grade, no new one)
# ended on the 12th with a recovery line (even k: new; odd: the same).
# ALT 250 and 330 (6.25 and 8.25 x ULN) hold imatinib (the label: > 5 x
# IULN), whatever the alert grade: one hold each, never resumed (no AST
# or bilirubin measured since).
expect() { # GRADE: "patient kind grade state" of every alert, sorted
	python3 -c '
import sys
low = sys.argv[1] == "2"
out = []
for i in range(1, 301):
    p = "P%03d" % i
    more = i % 10 in (7, 8, 9) or i in (127, 128, 129, 130, 255, 256, 257, 258)
    first = 3 if i % 2 else 2
    alerts = []
    if first >= 3 or low:
        alerts.append([p, "toxicity", first, "open"])
    if more:
        if not alerts:
            alerts.append([p, "toxicity", 3, "open"])
        elif first < 3:
            alerts[-1][3] = "resolved"
            alerts.append([p, "toxicity", 3, "open"])
        alerts[-1][3] = "resolved"
        alerts.append([p, "recovery", 0, "open"])
    if i % 2 or more:
        alerts.append([p, "hold", 0, "open"])
    out += ["%s %s %d %s" % tuple(a) for a in alerts]
print(",".join(sorted(out)))' "$1"; }
stored() {
	q "select p.patient_id || ' ' || a.kind || ' ' || coalesce(a.grade, 0) || ' ' || a.state from labwatch.alerts a join labwatch.patients p on p.id = a.patient where a.state <> 'retracted'" |
		LC_ALL=C sort | paste -sd, -
}

# 1. Every patient, written: the alerts of each are its own.
v0=$(versions)
q "CREATE TABLE public.v0 AS SELECT id, version FROM labwatch.patients"
rev --protocol-file "$PROTO" >"$TMP/first.out"
check "first: exit 0" test $? -eq 0
check "first: totals (300 patients, every message)" json_assert "$TMP/first.out" \
	"L[-1]['patients'] == 300 and L[-1]['messages'] == $nmsg and L[-1]['results'] == $nmsg"
check "first: each patient's alerts as its results imply" eq "$(stored)" "$(expect 3)"
check "first: toxicity 182 new" eq "$(summary "$TMP/first.out" toxicity)" 182/0/0/0
check "first: recovery 93 new" eq "$(summary "$TMP/first.out" recovery)" 93/0/0/0
check "first: hold 182 new, no resume" eq "$(summary "$TMP/first.out" hold) $(summary "$TMP/first.out" resume)" "182/0/0/0 0/0/0/0"
check "first: each patient with an alert bumped once, the others not" eq \
	"$(q "select count(*) filter (where p.version = v.version + 1 and a) || '/' || count(*) filter (where p.version = v.version and not a) from labwatch.patients p join public.v0 v using (id), lateral (select exists (select 1 from labwatch.alerts where patient = p.id) a) x")" \
	"182/118"
check "first: one trigger event per toxicity alert" eq \
	"$(q "select count(*) from labwatch.alert_events e join labwatch.alerts a on a.id = e.alert where e.event = 'trigger' and a.kind = 'toxicity'")" 182
v1=$(versions)
check "first: versions changed" test "$v0" != "$v1"

rev --protocol-file "$PROTO" >"$TMP/again.out"
check "again: nothing changes" eq "$(changes "$TMP/again.out")" ""
check "again: toxicity 182 unchanged" eq "$(summary "$TMP/again.out" toxicity)" 0/0/0/182
check "again: hold 182 unchanged" eq "$(summary "$TMP/again.out" hold)" 0/0/0/182
check "again: no version bumped" eq "$(versions)" "$v1"

# 2. Alert grade 2, dry: the patients at the boundaries as each alone.
rev --protocol-file "$LOW" --dry-run >"$TMP/low-all.out"
: >"$TMP/low-one.out"
for p in $EDGE; do rev --protocol-file "$LOW" --dry-run --patient "$p" >>"$TMP/low-one.out"; done
check "dry, grade 2: the boundary patients as each alone" eq \
	"$(changes "$TMP/low-all.out" $EDGE)" "$(changes "$TMP/low-one.out")"
check "dry, grade 2: the boundary patients' changes are there" test -n "$(changes "$TMP/low-one.out")"
check "dry, grade 2: toxicity 150 new (the even patients' grade 2)" eq \
	"$(summary "$TMP/low-all.out" toxicity)" 150/0/0/182
rev --protocol-file "$LOW" --dry-run --since 2026-11-11T00:00Z >"$TMP/since-all.out"
: >"$TMP/since-one.out"
for p in $EDGE; do rev --protocol-file "$LOW" --dry-run --since 2026-11-11T00:00Z --patient "$p" >>"$TMP/since-one.out"; done
check "dry, grade 2, --since the 11th: the boundary patients as each alone" eq \
	"$(changes "$TMP/since-all.out" $EDGE)" "$(changes "$TMP/since-one.out")"
check "dry runs: nothing written" eq "$(versions)" "$v1"

# 3. Written with grade 2: as the alerts each patient's results imply.
rev --protocol-file "$LOW" >"$TMP/low.out"
check "grade 2 written: exit 0" test $? -eq 0
check "grade 2 written: the changes the dry run said" eq "$(changes "$TMP/low.out")" "$(changes "$TMP/low-all.out")"
check "grade 2 written: each patient's alerts as its results imply" eq "$(stored)" "$(expect 2)"
rev --protocol-file "$LOW" >"$TMP/low2.out"
check "grade 2 twice: nothing the second time" eq "$(changes "$TMP/low2.out")" ""

done_testing
