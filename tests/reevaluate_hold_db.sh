#!/bin/sh
# labwatch reevaluate judges hold and resume alerts again (issue 13 item
# 5). The imatinib label's dose modification (Gleevec US prescribing
# information and EU SmPC section 4.2, as CLINICAL.md "Imatinib dose
# modification" gives it): hepatotoxicity stops at bilirubin > 3 x IULN
# or AST/ALT > 5 x IULN and restarts at 300 mg when bilirubin < 1.5 x and
# AST and ALT < 2.5 x IULN; neutropenia stops at ANC < 1.0 x 10^9/L (or
# platelets < 50) and restarts at 400 mg when ANC >= 1.5 and platelets
# >= 75, at 300 mg after a recurrence. labwatchd raises the alerts live;
# then:
#   1. under the protocol as shipped, every hold and resume alert is
#      unchanged and nothing is written (the shared hold_decide() gives
#      what the writer gave, the store_db hold cases included);
#   2. ALT stopping at > 3 x ULN: HA's ALT of 3.75 x now holds, and its
#      normal results resume (dry run first: nothing written); twice:
#      nothing the second time;
#   3. ALT at > 10 x ULN and ANC < 0.75: HA's and HB's holds and resumes
#      retracted with the reason; HC's first ANC 0.8 no longer holds, so
#      its 0.7 is the first stop (no recurrence) and the resume is at
#      400 mg, not 300;
#   4. back to the shipped protocol: the hold and resume alerts and
#      enrollments.hold_state are those labwatchd wrote live.
# HE: held twice (recurrence 2, restart at 300 mg) in the neoadjuvant
# phase, then adjuvant from a later date and held again: labwatchd
# carries the stop count across the phase change (store_db.sh's H411):
# recurrence 3, restart at 300 mg; reevaluate under the same protocol
# keeps them (the holds before the treatment start are counted), not a
# first stop and a restart at 400 mg. HF: held in the neoadjuvant phase,
# adjuvant from a later date while held (the hold goes on, store_db.sh's
# H406), then its restart: reevaluate keeps the restart. HG: held, its
# restart row back, then in another message a low ANC of the restart's
# own time: the resume undone, held again on the same result (a second
# hold alert); then back: under the same protocol reevaluate leaves the
# first hold as it is and adds no third (it did: "new hold"). HH: held,
# then 64 messages of platelets only, then its restart row: a resume
# whose message reevaluate looks up among more than 64 (the index of a
# patient's messages grown: read after its realloc, AddressSanitizer's
# heap-use-after-free under --enable-sanitizers).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/reevaluate_lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite reevalh

PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
mkdir -p "$TMP/data/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/data/"
sed 's/^stop = alt > 5 uln$/stop = alt > 3 uln/' "$PROTO" >"$TMP/data/protocols/strict.conf"
sed -e 's/^stop = alt > 5 uln$/stop = alt > 10 uln/' -e 's/^stop = anc < 1.0$/stop = anc < 0.75/' \
	"$PROTO" >"$TMP/data/protocols/lax.conf"
check "strict.conf moves one line" eq "$(diff "$PROTO" "$TMP/data/protocols/strict.conf" | grep -c '^>')" 1
check "lax.conf moves two lines" eq "$(diff "$PROTO" "$TMP/data/protocols/lax.conf" | grep -c '^>')" 2

lwd_db_conf "$TMP/d.conf"
lwd_start d "$TMP/d.conf"
P="HA HB HC HD HE HF HG HH H400 H401 H402 H403 H405 H407 H408 H410"
for p in $P; do
	"$LW" enroll "$p" --phase neoadjuvant --since 2026-11-01 >/dev/null
done
# HA: ALT 150 U/L (3.75 x ULN 40), then ALT 60, AST 30, bilirubin 10.
# HB: ALT 250 (6.25 x), then the same normal results.
# HC: ANC 0.8, back (1.8 and platelets 200), 0.7 (recurrence), back.
# HD: ALT 60 (1.5 x): never holds.
# H4xx: tests/store_db.sh's hold cases that need no hold_state edited
# (not H412: the D of its stop leaves a recovery line reevaluate retracts,
# as tests/reevaluate_corrected_db.sh's XG).
NORMAL_LIVER='"1742-6|NM|60|U/L|10-40" "1920-8|NM|30|U/L|10-40" "1975-2|NM|10|umol/L|3-21"'
{
	oru HA HA1 20261110090000+0000 "1742-6|NM|150|U/L|10-40"
	eval oru HA HA2 20261112090000+0000 "$NORMAL_LIVER"
	oru HB HB1 20261110090000+0000 "1742-6|NM|250|U/L|10-40"
	eval oru HB HB2 20261112090000+0000 "$NORMAL_LIVER"
	oru HC HC1 20261110090000+0000 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru HC HC2 20261111090000+0000 "751-8|NM|1.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru HC HC3 20261112090000+0000 "751-8|NM|0.7|10*9/L|1.8-7.5"
	oru HC HC4 20261113090000+0000 "751-8|NM|1.6|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru HD HD1 20261110090000+0000 "1742-6|NM|60|U/L|10-40"
	oru HE HE1 20261110090000+0000 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru HE HE2 20261111090000+0000 "751-8|NM|1.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru HE HE3 20261112090000+0000 "751-8|NM|0.7|10*9/L|1.8-7.5"
	oru HE HE4 20261113090000+0000 "751-8|NM|1.6|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru HF HF1 20261110090000+0000 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru HG HG1 20261110090000+0000 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru HG HG2 20261111090000+0000 "751-8|NM|1.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru HG HG3 20261111090000+0000 "751-8|NM|0.7|10*9/L|1.8-7.5"
	oru HG HG4 20261113090000+0000 "751-8|NM|1.6|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru HH HH0 20261110090000+0000 "751-8|NM|0.8|10*9/L|1.8-7.5"
	for i in $(seq 64); do
		oru HH "HH$i" "$(printf '202611111%d%02d00+0000' $((i / 60)) $((i % 60)))" "777-3|NM|200|10*9/L|150-400"
	done
	oru HH HH65 20261113090000+0000 "751-8|NM|1.6|10*9/L|1.8-7.5"
	oru H400 H4K1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru H400 H4K2 20261121073000+0800 "751-8|NM|1.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru H400 H4K3 20261122073000+0800 "751-8|NM|0.7|10*9/L|1.8-7.5"
	oru H400 H4K4 20261123073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru H401 H4L1 20261120073000+0800 "1742-6|NM|240|U/L|10-40"
	oru H401 H4L2 20261121073000+0800 "1742-6|NM|30|U/L|10-40" "1920-8|NM|30|U/L|10-40" "1975-2|NM|10|umol/L|3-21"
	oru H402 H4N1 20261120073000+0800 "1742-6|NM|240|U/L|10-40"
	(ORU_STATUS=D && oru H402 H4N1 20261120073000+0800 "1742-6|NM|240|U/L|10-40") | sed 's/|H4N1|P|2.5.1/|H4N1D|P|2.5.1/'
	oru H402 H4N2 20261121073000+0800 "1742-6|NM|30|U/L|10-40" "1920-8|NM|30|U/L|10-40" "1975-2|NM|10|umol/L|3-21"
	oru H403 H4J1 20261120073000+0800 "1742-6|NM|240|U/L|10-40"
	(ORU_STATUS=C && oru H403 H4J1 20261120073000+0800 "1742-6|NM|24|U/L|10-40") | sed 's/|H4J1|P|2.5.1/|H4J1C|P|2.5.1/'
	oru H405 H4F1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H405 H4F2 20261121073000+0800 "777-3|NM|40|10*9/L|150-400"
	oru H407 H4D1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H407 H4D2 20261121073000+0800 "751-8|NM|1.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	(ORU_STATUS=D && oru H407 H4D2 20261121073000+0800 "751-8|NM|1.8|10*9/L|1.8-7.5") | sed 's/|H4D2|P|2.5.1/|H4D2D|P|2.5.1/'
	oru H408 H4C1 20261120073000+0800 "1742-6|NM|240|U/L|10-40"
	oru H408 H4C2 20261121073000+0800 "1742-6|NM|30|U/L|10-40" "1920-8|NM|30|U/L|10-40" "1975-2|NM|10|umol/L|3-21"
	oru H408 H4C3 20261122073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H408 H4C4 20261123073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru H410 H4B1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H410 H4B2 20261120073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5"
} >"$TMP/in.hl7"
"$LW" replay --host 127.0.0.1 --port "$port" --timeout 10 "$TMP/in.hl7" >"$TMP/replay.out" 2>&1
lwd_stop d
# HE's phase changes, then it is held and resumed again (a fresh daemon:
# its enrollment read anew).
"$LW" enroll HE --phase adjuvant --since 2026-11-20 >/dev/null
"$LW" enroll HF --phase adjuvant --since 2026-11-20 >/dev/null
{
	oru HF HF2 20261121090000+0000 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru HE HE5 20261121090000+0000 "751-8|NM|0.6|10*9/L|1.8-7.5"
	oru HE HE6 20261122090000+0000 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
} >"$TMP/in2.hl7"
lwd_start d2 "$TMP/d.conf"
"$LW" replay --host 127.0.0.1 --port "$port" --timeout 10 "$TMP/in2.hl7" >>"$TMP/replay.out" 2>&1
check "fed: 109 messages stored" eq "$(q "select count(*) from labwatch.messages where outcome = 'processed'")" 109
lwd_stop d2

# Hold (stop) and resume alerts of patients, as written: one line each.
holds() { q "select string_agg(p.patient_id || ' ' || a.kind || ' ' || (a.details->>'rule') || ' ' || coalesce(a.observation::text, '-') || ' ' || (a.details->>'stops') || ' ' || coalesce(a.details->>'restart_dose_mg', '-') || ' ' || a.state || ' ' || coalesce(s.kind || ':' || s.state, '-') || ' ' || a.summary, E'\n' order by p.patient_id, a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient left join labwatch.alerts s on s.id = a.superseded_by where a.kind in ('hold', 'resume') and coalesce(a.details->>'event', 'stop') <> 'withdrawn' and a.state <> 'retracted' and p.patient_id in ($(echo "$*" | sed "s/[^ ]*/'&'/g; s/ /,/g"))"; }
hold_state() { q "select string_agg(p.patient_id || ' ' || e.hold_state::text, E'\n' order by p.patient_id) from labwatch.enrollments e join labwatch.patients p on p.id = e.patient where p.patient_id in ($(echo "$*" | sed "s/[^ ]*/'&'/g; s/ /,/g"))"; }
counts() { q "select (select count(*) from labwatch.alerts) || '/' || (select count(*) from labwatch.alert_events) || '/' || (select count(*) from labwatch.alerts where state = 'retracted') || '/' || (select md5(string_agg(hold_state::text, ',' order by patient)) from labwatch.enrollments)"; }
versions() { q "select string_agg(patient_id || ':' || version, ',' order by patient_id) from labwatch.patients"; }
hg_obs() { q "select o.id from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'HG' and o.value = $1"; }
# The holds judged: not the withdrawn lines, nor a hold whose resume
# labwatchd retracted (H407: left as it is).
judged() { q "select count(*) from labwatch.alerts a where kind = 'hold' and coalesce(details->>'event', 'stop') = 'stop' and state <> 'retracted' and not exists (select 1 from labwatch.alerts r where r.id = a.superseded_by and r.state = 'retracted')"; }
# The patients whose live alerts reevaluate must give again (step 4).
SAME="HA HB HC HD HE HF H400 H401 H405 H408 H410"
holds $SAME >"$TMP/live.holds"
hold_state $SAME >"$TMP/live.state"
check "live: HC held twice (recurrence 2), resumed at 400 then 300 mg" eq \
	"$(grep '^HC ' "$TMP/live.holds" | cut -d' ' -f2,5,6,7)" \
	"$(printf 'hold 1 - resolved\nresume 1 400 open\nhold 2 - resolved\nresume 2 300 open')"
check "live: HE across the phase change: recurrence 3, resumed at 300 mg" eq \
	"$(grep '^HE ' "$TMP/live.holds" | cut -d' ' -f2,5,6,7 | tail -2)" \
	"$(printf 'hold 3 - resolved\nresume 3 300 open')"
check "live: HF held across the phase change, resumed at 400 mg" eq \
	"$(grep '^HF ' "$TMP/live.holds" | cut -d' ' -f2,5,6,7)" \
	"$(printf 'hold 1 - resolved\nresume 1 400 open')"
check "live: HG's resume undone by a result of its time, held again on the same result, resumed" eq \
	"$(holds HG | cut -d' ' -f2,4,5,6,7,8)" \
	"$(printf 'hold %s 1 - resolved resume:retracted\nhold %s 1 - resolved resume:open\nresume - 1 400 open -' "$(hg_obs 0.8)" "$(hg_obs 0.8)")"
check "live: HH held, resumed after 65 messages" eq "$(holds HH | cut -d' ' -f2,5,6,7)" \
	"$(printf 'hold 1 - resolved\nresume 1 400 open')"
check "live: HA never held, HB held and resumed" eq \
	"$(grep -c '^HA ' "$TMP/live.holds") $(grep '^HB ' "$TMP/live.holds" | cut -d' ' -f2 | tr '\n' ' ')" "0 hold resume "

# 1. The protocol as shipped: every hold and resume alert unchanged.
c0=$(counts)
v0=$(versions)
# Less HE's two holds and resumes and HF's hold before their treatment
# start (2026-11-20): replayed, never judged.
check "HE: three holds and three resumes live" eq \
	"$(grep -c '^HE hold ' "$TMP/live.holds") $(grep -c '^HE resume ' "$TMP/live.holds")" "3 3"
nh=$(($(judged) - 3))
nr=$(($(q "select count(*) from labwatch.alerts where kind = 'resume' and state <> 'retracted'") - 2))
rev --protocol-file "$PROTO" >"$TMP/same.out"
check "same protocol: exit 0" test $? -eq 0
check "same protocol: hold 0/0/0/$nh (new/retracted/updated/unchanged)" eq "$(summary "$TMP/same.out" hold)" "0/0/0/$nh"
check "same protocol: resume 0/0/0/$nr" eq "$(summary "$TMP/same.out" resume)" "0/0/0/$nr"
check "same protocol: there are holds and resumes to judge" test "$nh" -ge 10 -a "$nr" -ge 7
check "same protocol: no change line" eq "$(changes "$TMP/same.out")" ""
check "same protocol: HE's holds across its phase change unchanged" eq "$(hchanges "$TMP/same.out" HE)" ""
check "same protocol: HF's restart after its phase change unchanged" eq "$(hchanges "$TMP/same.out" HF)" ""
check "same protocol: HG's second hold on the same result unchanged, no third" eq "$(hchanges "$TMP/same.out" HG)" ""
check "same protocol: HH's resume, its message among 66, unchanged" eq "$(hchanges "$TMP/same.out" HH)" ""
check "same protocol: nothing written" eq "$(counts)" "$c0"
check "same protocol: no version bumped" eq "$(versions)" "$v0"

# 2. ALT stops at > 3 x ULN: HA's 3.75 x holds, its normal results resume.
rev --protocol-file "$TMP/data/protocols/strict.conf" --dry-run >"$TMP/strict_dry.out"
check "strict, dry run: HA's new hold and resume only" eq "$(hchanges "$TMP/strict_dry.out")" \
	"new hold HA hepatotoxicity;new resume HA hepatotoxicity"
check "strict, dry run: hold 1 new" eq "$(summary "$TMP/strict_dry.out" hold)" "1/0/0/$nh"
check "strict, dry run: nothing written" eq "$(counts)" "$c0"
check "strict, dry run: no version bumped" eq "$(versions)" "$v0"
"$LW" reevaluate --format table --dry-run --protocol-file "$TMP/data/protocols/strict.conf" >"$TMP/strict_table.out"
check "strict, table: per-kind lines for hold and resume" sh -c \
	"grep -qE '^hold +1 +0 +0 +$nh' '$TMP/strict_table.out' && grep -qE '^resume +1 +0 +0 +$nr' '$TMP/strict_table.out'"
check "strict, table: the change names its rule" grep -qE 'new +hold +HA .*hepatotoxicity +open' "$TMP/strict_table.out"
rev --protocol-file "$TMP/data/protocols/strict.conf" >"$TMP/strict.out"
check "strict: HA's new hold and resume written" eq "$(hchanges "$TMP/strict.out")" \
	"new hold HA hepatotoxicity;new resume HA hepatotoxicity"
check "strict: HA's hold on the ALT of 150, answered by the resume at 300 mg" eq \
	"$(holds HA | cut -d' ' -f2,5-9)" \
	"$(printf 'hold 1 - resolved resume:open HOLD\nresume 1 300 open - RESUME')"
holds HA >"$TMP/ha.holds"
check "strict: the hold rests on ALT 150 U/L" grep -q '^HA hold hepatotoxicity [0-9]* 1 - resolved resume:open HOLD imatinib (hepatotoxicity): patient HA, NCT04933669: ALT 150 U/L' "$TMP/ha.holds"
check "strict: the hold's page closed before the resume's (resolve, then trigger)" eq \
	"$(q "select string_agg(a.kind || ':' || e.event, ',' order by e.id) from labwatch.alert_events e join labwatch.alerts a on a.id = e.alert join labwatch.patients p on p.id = a.patient where p.patient_id = 'HA'")" \
	"hold:trigger,hold:resolve,resume:trigger"
check "strict: HA's hold_state: one stop, restart at 300 mg, not held" eq \
	"$(q "select (hold_state->'hepatotoxicity'->>'stops') || ' ' || (hold_state->'hepatotoxicity'->>'restart_dose_mg') || ' ' || (hold_state->'hepatotoxicity' ? 'since')::text from labwatch.enrollments e join labwatch.patients p on p.id = e.patient where p.patient_id = 'HA'")" "1 300 false"
check "strict: only HA's version bumped" eq "$(versions)" \
	"$(echo "$v0" | awk -F, -v OFS=, '{ for (i = 1; i <= NF; i++) { split($i, f, ":"); if (f[1] == "HA") $i = f[1] ":" f[2] + 1 } print }')"
c1=$(counts)
rev --protocol-file "$TMP/data/protocols/strict.conf" >"$TMP/strict2.out"
check "strict twice: nothing the second time" eq "$(changes "$TMP/strict2.out") $(counts)" " $c1"
check "strict twice: hold 0/0/0/$((nh + 1))" eq "$(summary "$TMP/strict2.out" hold)" "0/0/0/$((nh + 1))"

# 3. ALT at > 10 x ULN, ANC < 0.75: the table of what each patient gets.
hash=$(sha256sum "$TMP/data/protocols/lax.conf" | cut -d' ' -f1)
rev --protocol-file "$TMP/data/protocols/lax.conf" >"$TMP/lax.out"
check "lax: exit 0" test $? -eq 0
while read -r p want; do
	check "lax: $p" eq "$(hchanges "$TMP/lax.out" "$p")" "$(echo "$want" | tr '+' ' ')"
done <<'T'
HA retracted+hold+HA+hepatotoxicity;retracted+resume+HA+hepatotoxicity
HB retracted+hold+HB+hepatotoxicity;retracted+resume+HB+hepatotoxicity
HC new+hold+HC+myelosuppression;new+resume+HC+myelosuppression;retracted+hold+HC+myelosuppression;retracted+hold+HC+myelosuppression;retracted+resume+HC+myelosuppression;retracted+resume+HC+myelosuppression
HD
T
check "lax: HC's first stop is now the ANC of 0.7, no recurrence; restart at 400 mg" eq \
	"$(holds HC | cut -d' ' -f2,5,6,7)" "$(printf 'hold 1 - resolved\nresume 1 400 open')"
holds HC >"$TMP/hc.holds"
check "lax: the new hold rests on ANC 0.7" grep -q 'HOLD imatinib (myelosuppression): patient HC, NCT04933669: ANC 0.7 ' "$TMP/hc.holds"
check "lax: retracted with the reason" eq \
	"$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id in ('HA', 'HB', 'HC') and a.kind in ('hold', 'resume') and a.state = 'retracted' and a.resolve_note = 're-evaluated under sha256:$hash'")" 8
check "lax: HC's hold_state: one stop, restart at 400 mg" eq \
	"$(q "select (hold_state->'myelosuppression'->>'stops') || ' ' || (hold_state->'myelosuppression'->>'restart_dose_mg') from labwatch.enrollments e join labwatch.patients p on p.id = e.patient where p.patient_id = 'HC'")" "1 400"
c2=$(counts)
rev --protocol-file "$TMP/data/protocols/lax.conf" >"$TMP/lax2.out"
check "lax twice: nothing the second time" eq "$(changes "$TMP/lax2.out") $(counts)" " $c2"

# 4. Back to the protocol as shipped: what labwatchd wrote live, again.
rev --protocol-file "$PROTO" >"$TMP/back.out"
check "back: exit 0" test $? -eq 0
check "back: HB's hold and resume new again" eq "$(hchanges "$TMP/back.out" HB)" \
	"new hold HB hepatotoxicity;new resume HB hepatotoxicity"
holds $SAME >"$TMP/back.holds"
hold_state $SAME >"$TMP/back.state"
# Alert rows are new (other ids, observation ids the same): compare all
# but the ids.
check "back: the hold and resume alerts labwatchd wrote live" eq "$(cat "$TMP/back.holds")" "$(cat "$TMP/live.holds")"
check "back: enrollments.hold_state as labwatchd left it" eq "$(cat "$TMP/back.state")" "$(cat "$TMP/live.state")"
c3=$(counts)
rev --protocol-file "$PROTO" >"$TMP/back2.out"
check "back twice: nothing the second time" eq "$(changes "$TMP/back2.out") $(counts)" " $c3"

done_testing
