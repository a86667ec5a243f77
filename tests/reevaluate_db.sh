#!/bin/sh
# labwatch reevaluate against a real private PostgreSQL fed by labwatchd:
# the same protocol changes nothing; the alert grade lowered to 2 gives the
# expected new alerts (kind, patient, grade) and their trigger events, and
# --dry-run writes nothing; --patient, --since and --until limit the
# scope; the grade raised to 4 retracts with the reason and resolve
# events; every run twice changes nothing the second time; messages and
# observations are never touched; bad options exit 2.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/reevaluate_lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite reeval

PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
lwd_db_conf "$TMP/d.conf"
lwd_start d "$TMP/d.conf"
for p in RA RB RC RD; do
	"$LW" enroll "$p" --phase neoadjuvant --since 2026-11-01 >/dev/null
done
# RA: ALT grade 2, then 3, then back to normal: one grade-3 episode (and
#     a hold), two episodes' worth at grade 2. RB: ALT grade 2 alone.
# RC: platelets grade 2 on the 11th. RD: ALT grade 1 only: never alerts.
{
	oru RA A1 20261110090000+0000 "1742-6|NM|150|U/L|10-40"
	oru RA A2 20261112090000+0000 "1742-6|NM|250|U/L|10-40"
	oru RA A3 20261114090000+0000 "1742-6|NM|30|U/L|10-40"
	oru RB B1 20261110100000+0000 "1742-6|NM|150|U/L|10-40"
	oru RC C1 20261111090000+0000 "777-3|NM|60|10*9/L|150-400"
	oru RD D1 20261110110000+0000 "1742-6|NM|60|U/L|10-40"
} >"$TMP/in.hl7"
"$LW" replay --host 127.0.0.1 --port "$port" --timeout 10 "$TMP/in.hl7" >"$TMP/replay.out" 2>&1
check "fed: 6 messages stored" eq "$(q "select count(*) from labwatch.messages where outcome = 'processed'")" 6
check "fed: RA's grade-3 ALT alert and recovery line" eq \
	"$(q "select string_agg(a.kind || ':' || coalesce(a.grade::text, '-'), ',' order by a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'RA' and a.kind in ('toxicity', 'recovery')")" \
	"toxicity:3,recovery:0"
lwd_stop d

# What reevaluate must never change, and what it may.
frozen() { q "select md5(string_agg(m::text, '' order by id)) from labwatch.messages m" ; q "select md5(string_agg(o::text, '' order by id)) from labwatch.observations o"; }
frozen >"$TMP/frozen.before"
counts() { q "select (select count(*) from labwatch.alerts) || '/' || (select count(*) from labwatch.alert_events) || '/' || (select count(*) from labwatch.alerts where state = 'retracted')"; }

# 1. The same protocol: nothing changes.
c0=$(counts)
rev --protocol-file "$PROTO" >"$TMP/same.out"
check "same protocol: exit 0" test $? -eq 0
check "same protocol: toxicity 0 new, 0 retracted, 1 unchanged" eq "$(summary "$TMP/same.out" toxicity)" 0/0/0/1
check "same protocol: recovery 0 new, 0 retracted, 1 unchanged" eq "$(summary "$TMP/same.out" recovery)" 0/0/0/1
check "same protocol: no alert or event written" eq "$(counts)" "$c0"
check "same protocol: totals line" json_assert "$TMP/same.out" \
	'L[-1]["patients"] == 4 and L[-1]["messages"] == 6 and L[-1]["results"] == 6 and L[-1]["dry_run"] is False'

# patients.version of each patient: a writing run bumps those it writes,
# as labwatchd does (plock.c), so that a running labwatchd reloads them.
versions() { q "select string_agg(patient_id || ':' || version, ',' order by patient_id) from labwatch.patients"; }
v0=$(versions)
check "same protocol: no patient's version bumped" eq "$(versions)" "$v0"

# 2. The alert grade lowered to 2, dry run first: the difference, no write.
# Copies beside the data files they name (../analytes.conf).
mkdir -p "$TMP/data/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/data/"
sed 's/^alert_grade = 3$/alert_grade = 2/' "$PROTO" >"$TMP/data/protocols/low.conf"
check "low.conf differs" sh -c "! cmp -s '$PROTO' '$TMP/data/protocols/low.conf'"
rev --protocol-file "$TMP/data/protocols/low.conf" --dry-run >"$TMP/dry.out"
check "dry run: exit 0" test $? -eq 0
check "dry run: new grade-2 alerts for RA, RB (ALT) and RC (platelets)" eq "$(changes "$TMP/dry.out")" \
	"new toxicity RA alt 2;new toxicity RB alt 2;new toxicity RC plt 2"
check "dry run: toxicity 3 new, 1 unchanged" eq "$(summary "$TMP/dry.out" toxicity)" 3/0/0/1
check "dry run: nothing written" eq "$(counts)" "$c0"
rev --protocol-file "$TMP/data/protocols/low.conf" --dry-run --patient RB >"$TMP/dry_rb.out"
check "--patient RB: only RB's alert" eq "$(changes "$TMP/dry_rb.out")" "new toxicity RB alt 2"
check "--patient RB: one patient" json_assert "$TMP/dry_rb.out" 'L[-1]["patients"] == 1 and L[-1]["results"] == 1'
rev --protocol-file "$TMP/data/protocols/low.conf" --dry-run --since 2026-11-11T00:00Z --until 2026-11-12T00:00Z >"$TMP/dry_win.out"
check "--since/--until the 11th: only RC's platelets" eq "$(changes "$TMP/dry_win.out")" "new toxicity RC plt 2"
rev --protocol-file "$TMP/data/protocols/low.conf" --dry-run --until 2026-11-11T00:00Z >"$TMP/dry_until.out"
check "--until the 11th: RA's and RB's ALT" eq "$(changes "$TMP/dry_until.out")" \
	"new toxicity RA alt 2;new toxicity RB alt 2"
check "dry runs: still nothing written" eq "$(counts)" "$c0"
check "dry runs: no patient's version bumped" eq "$(versions)" "$v0"

# 3. Written: three new alerts, each with its trigger event; RA's grade 2
#    is superseded by its grade 3 (one episode), RB's and RC's stay open.
ev0=$(q "select count(*) from labwatch.alert_events where event = 'trigger'")
# RB held by another writer (its per-patient advisory lock): reevaluate
# waits for it before it writes RB.
q "begin; select pg_advisory_xact_lock(15, hashtext('RB')); select pg_sleep(4); commit" >/dev/null &
holder=$!
n=0
until [ "$(q "select count(*) from pg_locks where locktype = 'advisory' and granted and objid = hashtext('RB')::oid")" = 1 ] || [ $n -ge 50 ]; do
	sleep 0.1; n=$((n + 1))
done
rev --protocol-file "$TMP/data/protocols/low.conf" >"$TMP/low.out" &
revpid=$!
n=0 waited=0
while [ $n -lt 30 ] && kill -0 $revpid 2>/dev/null; do
	[ "$(q "select count(*) from pg_locks where locktype = 'advisory' and not granted and objid = hashtext('RB')::oid")" = 1 ] && { waited=1; break; }
	sleep 0.1; n=$((n + 1))
done
wait $revpid
rc=$?
wait $holder
check "lowered: reevaluate waited for RB's advisory lock" test $waited -eq 1
check "lowered: exit 0" test $rc -eq 0
check "lowered: RA, RB, RC's versions bumped once, RD's not" eq \
	"$(versions)" "$(echo "$v0" | awk -F, -v OFS=, '{ for (i = 1; i <= NF; i++) { split($i, f, ":"); if (f[1] != "RD") $i = f[1] ":" f[2] + 1 } print }')"
v1=$(versions)
check "lowered: the same three new alerts" eq "$(changes "$TMP/low.out")" \
	"new toxicity RA alt 2;new toxicity RB alt 2;new toxicity RC plt 2"
check "lowered: in the table (patient kind analyte grade state)" eq \
	"$(q "select string_agg(p.patient_id || ' ' || a.analyte || ' ' || a.grade || ' ' || a.state, ',' order by p.patient_id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where a.kind = 'toxicity' and a.grade = 2")" \
	"RA alt 2 resolved,RB alt 2 open,RC plt 2 open"
check "lowered: RA's grade 2 superseded by its grade 3" eq \
	"$(q "select b.grade from labwatch.alerts a join labwatch.alerts b on b.id = a.superseded_by join labwatch.patients p on p.id = a.patient where p.patient_id = 'RA' and a.grade = 2")" 3
check "lowered: three trigger events (notify pages them)" eq \
	"$(q "select count(*) from labwatch.alert_events where event = 'trigger'")" $((ev0 + 3))
rev --protocol-file "$TMP/data/protocols/low.conf" >"$TMP/low2.out"
check "lowered twice: nothing new the second time" eq "$(changes "$TMP/low2.out")" ""
check "lowered twice: toxicity 0/0/0/4" eq "$(summary "$TMP/low2.out" toxicity)" 0/0/0/4
check "lowered twice: no version bumped the second time" eq "$(versions)" "$v1"

# 4. The alert grade raised to 4: every toxicity and recovery alert is
#    retracted with the reason, and pages a resolve event (not RA's grade
#    2, superseded: its episode went on under the grade 3).
sed 's/^alert_grade = 3$/alert_grade = 4/' "$PROTO" >"$TMP/data/protocols/high.conf"
hash=$(sha256sum "$TMP/data/protocols/high.conf" | cut -d' ' -f1)
rev --protocol-file "$TMP/data/protocols/high.conf" >"$TMP/high.out"
check "raised: exit 0" test $? -eq 0
check "raised: toxicity 4 retracted" eq "$(summary "$TMP/high.out" toxicity)" 0/4/0/0
check "raised: recovery 1 retracted" eq "$(summary "$TMP/high.out" recovery)" 0/1/0/0
check "raised: each retracted with the reason" eq \
	"$(q "select count(*) from labwatch.alerts where state = 'retracted' and resolve_note = 're-evaluated under sha256:$hash'")" 5
check "raised: resolve events with the reason" eq \
	"$(q "select count(*) from labwatch.alert_events where event = 'resolve' and note = 're-evaluated under sha256:$hash'")" 4
check "raised: the hold alert untouched" eq \
	"$(q "select string_agg(state, ',') from labwatch.alerts where kind = 'hold'")" open
c1=$(counts)
rev --protocol-file "$TMP/data/protocols/high.conf" >"$TMP/high2.out"
check "raised twice: nothing the second time" eq "$(changes "$TMP/high2.out") $(counts)" " $c1"

# 5. Back to the protocol as shipped: RA's grade 3 and its recovery again,
#    the grade 3 resolved by the result that ended its episode.
rev --protocol-file "$PROTO" >"$TMP/back.out"
check "back: RA's grade 3 and recovery new again" eq "$(changes "$TMP/back.out")" \
	"new recovery RA alt 0;new toxicity RA alt 3"
check "back: the grade 3 resolved by the normal ALT" eq \
	"$(q "select a.state || ' ' || (o.value_raw) from labwatch.alerts a join labwatch.observations o on o.id = a.resolved_by_observation where a.kind = 'toxicity' and a.state <> 'retracted'")" \
	"resolved 30"
rev --protocol-file "$PROTO" >"$TMP/back2.out"
check "back twice: nothing the second time" eq "$(changes "$TMP/back2.out")" ""
frozen >"$TMP/frozen.after"
check "messages and observations never touched" cmp -s "$TMP/frozen.before" "$TMP/frozen.after"

# 6. A table on request, and clear errors with exit 2.
"$LW" reevaluate --format table --dry-run --protocol-file "$TMP/data/protocols/low.conf" >"$TMP/table.out"
check "table: per-kind summary" grep -qE '^toxicity +3 +0 +0 +1' "$TMP/table.out"
check "table: dry run said" grep -q "dry run: nothing written" "$TMP/table.out"
"$LW" reevaluate --protocol-file "$TMP/missing.conf" >/dev/null 2>"$TMP/err1"
check "missing protocol file: exit 2" test $? -eq 2
check "missing protocol file: says so" grep -q "missing.conf" "$TMP/err1"
"$LW" reevaluate --since yesterday >/dev/null 2>"$TMP/err2"
check "bad --since: exit 2" test $? -eq 2
check "bad --since: says so" grep -q -- "--since 'yesterday' is not ISO 8601" "$TMP/err2"
"$LW" reevaluate --since 2026-11-12 --until 2026-11-11 >/dev/null 2>"$TMP/err3"
check "--since after --until: exit 2" test $? -eq 2
"$LW" reevaluate --bogus >/dev/null 2>&1
check "unknown option: exit 2" test $? -eq 2
"$LW" reevaluate --protocol-file "$PROTO" extra >/dev/null 2>&1
check "stray argument: exit 2" test $? -eq 2
"$LW" reevaluate --db "host=127.0.0.1 port=1 connect_timeout=2" --protocol-file "$PROTO" >/dev/null 2>"$TMP/err4"
check "unreachable database: exit 2" test $? -eq 2

# 7. A window ending before the result that escalates: the grade 2 alert
#    --until writes for RA (the 10th) is superseded by the stored grade 3
#    of the 12th, outside the window, as labwatchd would have done; not
#    left open beside it.
rev --protocol-file "$TMP/data/protocols/low.conf" --until 2026-11-11T00:00Z >"$TMP/win.out"
check "--until the 11th, written: RA's and RB's ALT grade 2" eq "$(changes "$TMP/win.out")" \
	"new toxicity RA alt 2;new toxicity RB alt 2"
check "--until the 11th: RA's grade 2 superseded by the grade 3 of the 12th" eq \
	"$(q "select a.state || ' ' || coalesce(b.grade::text, '-') from labwatch.alerts a join labwatch.patients p on p.id = a.patient left join labwatch.alerts b on b.id = a.superseded_by where p.patient_id = 'RA' and a.kind = 'toxicity' and a.grade = 2 and a.state <> 'retracted'")" \
	"resolved 3"
rev --protocol-file "$TMP/data/protocols/low.conf" --until 2026-11-11T00:00Z >"$TMP/win2.out"
check "--until the 11th twice: nothing the second time" eq "$(changes "$TMP/win2.out")" ""

done_testing
