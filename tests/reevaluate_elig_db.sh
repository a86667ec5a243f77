#!/bin/sh
# labwatch reevaluate judges eligibility and data_quality alerts again,
# on a real private PostgreSQL fed by labwatchd live. Under the protocol
# as shipped nothing changes (the shared decisions, elig_decide() and
# episode_data_quality(), give what the writer gave); with the entry
# thresholds moved (CLINICAL.md: platelets < 75 x 10^9/L raised to
# < 100, ALT > 2.5 x ULN raised to > 3 x ULN) and ALT's default range
# taken out, a table of patients gets the expected new and retracted
# eligibility alerts (by message and status) and one new data_quality
# alert; the latest verdict row and enrollments.eligibility_status follow
# while the stored verdict rows are never changed; --dry-run writes
# nothing; every run twice changes nothing the second time.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/reevaluate_lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite reevale

PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
mkdir -p "$TMP/data/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/data/"
# The thresholds moved (criterion texts with them) and ALT's default
# range taken out: an ALT without OBX-7 is then no_reference_range.
sed -e 's/^exclude = < 75$/exclude = < 100/' \
	-e 's/^text = platelets < 75 x 10^9\/L$/text = platelets < 100 x 10^9\/L/' \
	-e '/^\[exclusion alt\]/,/^text/s/^exclude = > 2.5 uln$/exclude = > 3 uln/' \
	-e 's/^text = ALT > 2.5 x ULN$/text = ALT > 3 x ULN/' \
	-e '/^alt = 0 40/d' "$PROTO" >"$TMP/data/protocols/moved.conf"
check "moved.conf: four lines changed, one taken out" eq \
	"$(diff "$PROTO" "$TMP/data/protocols/moved.conf" | grep -c '^>') $(diff "$PROTO" "$TMP/data/protocols/moved.conf" | grep -c '^<')" "4 5"

# The table: patient, its messages (CONTROL:DAY:PLT:ALT, PLT and ALT in
# 10^9/L and U/L with ULN 40; a full panel with the five other analytes
# normal, "-": that analyte not sent, "p": platelets alone), then the
# eligibility alerts under the protocol as shipped and as moved
# (CONTROL:status, in message order).
cat >"$TMP/cases" <<'T'
EA A1:10:90:30                 A1:eligible                 A1:ineligible
EB B1:10:60:30                 B1:ineligible               B1:ineligible
EC C1:10:250:110               C1:ineligible               C1:eligible
ED D1:10:250:30,D2:12:p90      D1:eligible                 D1:eligible,D2:ineligible
EE E1:10:90:30,E2:12:p120      E1:eligible                 E1:ineligible,E2:eligible
EF F1:10:p90                   F1:incomplete               F1:ineligible
T
normal='1920-8|NM|25|U/L|10-40 1975-2|NM|0.8|mg/dL|0.2-1.2 2160-0|NM|0.9|mg/dL|0.6-1.2 751-8|NM|3.2|10*9/L|1.8-7.5 718-7|NM|13.5|g/dL|12.0-16.0'
msgs() {
	while read -r p ms _; do
		for m in $(echo "$ms" | tr , ' '); do
			cid=${m%%:*}; rest=${m#*:}
			day=${rest%%:*}; rest=${rest#*:}
			case $rest in
			p*) oru "$p" "$cid" "202611${day}090000+0000" "777-3|NM|${rest#p}|10*9/L|150-400" ;;
			*) # shellcheck disable=SC2086
			   oru "$p" "$cid" "202611${day}090000+0000" "777-3|NM|${rest%%:*}|10*9/L|150-400" \
				"1742-6|NM|${rest#*:}|U/L|10-40" $normal ;;
			esac
		done
	done <"$TMP/cases"
	# EG: platelets 90 (eligible as shipped), then corrected (OBX-11 C,
	#     the same order) to 60: ineligible on the correction's message.
	# shellcheck disable=SC2086
	oru EG G1 20261110090000+0000 "777-3|NM|90|10*9/L|150-400" "1742-6|NM|30|U/L|10-40" $normal
	(ORU_STATUS=C && oru EG G1 20261110090000+0000 "777-3|NM|60|10*9/L|150-400") | sed 's/|G1|P|2.5.1/|G2|P|2.5.1/'
	# EQ: results the rules cannot evaluate, whatever the protocol: AST
	#     in mg/L (unit unknown), an OBX-7 that cannot be read, and
	#     platelets with no OBX-11 (status unknown: a data_quality alert
	#     for what must not pass in silence).
	oru EQ Q1 20261110090000+0000 "1920-8|NM|30|mg/L|10-40" "1742-6|NM|30|U/L|see note"
	(ORU_STATUS= && oru EQ Q2 20261111090000+0000 "777-3|NM|200|10*9/L|150-400")
	# EH: screened (platelets 90, eligible as shipped), now on
	#     treatment (since the 1st: its screening result in the window
	#     of its treatment): its eligibility alert is left as it is.
	# shellcheck disable=SC2086
	oru EH H1 20261110090000+0000 "777-3|NM|90|10*9/L|150-400" "1742-6|NM|30|U/L|10-40" $normal
	# ET (treatment): ALT 60 U/L without OBX-7: graded on the default ULN
	#     40 as shipped (grade 1, nothing); without a default,
	#     no_reference_range: a data_quality alert.
	oru ET T1 20261110090000+0000 "1742-6|NM|60|U/L|"
}
want() { # COLUMN (3: shipped, 4: moved): "patient:control:status" sorted
	awk -v c="$1" '{ n = split($c, a, ","); for (i = 1; i <= n; i++) print $1 ":" a[i] }' "$TMP/cases" | sort | paste -sd, -
}
lwd_db_conf "$TMP/d.conf"
lwd_start d "$TMP/d.conf"
for p in EA EB EC ED EE EF EG EH EQ; do
	"$LW" enroll "$p" --phase screening --since 2026-11-01 >/dev/null
done
"$LW" enroll ET --phase neoadjuvant --since 2026-11-01 >/dev/null
msgs >"$TMP/in.hl7"
"$LW" replay --host 127.0.0.1 --port "$port" --timeout 10 "$TMP/in.hl7" >"$TMP/replay.out" 2>&1
check "fed: every message stored" eq "$(q "select count(*) from labwatch.messages where outcome = 'processed'")" 14
lwd_stop d
q "update labwatch.enrollments e set phase = 'neoadjuvant', since = '2026-11-01' from labwatch.patients p where p.id = e.patient and p.patient_id = 'EH'" >/dev/null

# ealerts [STATE]: the eligibility alerts not retracted (or of STATE),
# "patient:control:status" sorted, as labwatchd or reevaluate wrote them.
ealerts() {
	q "select string_agg(p.patient_id || ':' || m.control_id || ':' || (a.details->>'status'), ',' order by p.patient_id, m.control_id, a.details->>'status') from labwatch.alerts a join labwatch.patients p on p.id = a.patient join labwatch.messages m on m.id = a.message where a.kind = 'eligibility' and a.state ${1:-<> 'retracted'}"
}
dq() { q "select string_agg(p.patient_id || ':' || coalesce(a.analyte, '-') || ':' || (a.details->>'problem'), ',' order by p.patient_id, a.analyte) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where a.kind = 'data_quality' and a.state <> 'retracted'"; }
latest() { # the latest verdict row of each screening patient (what status shows)
	q "select string_agg(patient_id || ':' || status, ',' order by patient_id) from (select distinct on (x.patient) p.patient_id, x.status from labwatch.eligibility x join labwatch.patients p on p.id = x.patient order by x.patient, x.evaluated_at desc, x.id desc) l"
}
estatus() { q "select string_agg(p.patient_id || ':' || coalesce(e.eligibility_status, '-'), ',' order by p.patient_id) from labwatch.enrollments e join labwatch.patients p on p.id = e.patient where e.phase = 'screening'"; }
# erows: the verdict rows reevaluate must never change (all but appended)
erows() { q "select md5(string_agg(x::text, '' order by id)) from labwatch.eligibility x where id <= $1"; }
counts() { q "select (select count(*) from labwatch.alerts) || '/' || (select count(*) from labwatch.alert_events) || '/' || (select count(*) from labwatch.eligibility) || '/' || (select count(*) from labwatch.alerts where state = 'retracted')"; }
versions() { q "select string_agg(patient_id || ':' || version, ',' order by patient_id) from labwatch.patients"; }
frozen() { q "select md5(string_agg(m::text, '' order by id)) from labwatch.messages m"; q "select md5(string_agg(o::text, '' order by id)) from labwatch.observations o"; }

shipped="$(want 3),EG:G1:eligible,EG:G2:ineligible,EH:H1:eligible,EQ:Q1:incomplete"
check "fed: labwatchd's eligibility alerts are the table's as shipped" eq "$(ealerts)" "$shipped"
check "fed: labwatchd's data_quality alerts (EQ: three problems; ET none)" eq "$(dq)" \
	"EQ:alt:range_unreadable,EQ:ast:unit_unknown,EQ:plt:status_unknown"
check "fed: one verdict row per message judged" eq "$(q "select count(*) from labwatch.eligibility")" 13
maxrow=$(q "select max(id) from labwatch.eligibility")
frozen >"$TMP/frozen.before"
rows0=$(erows "$maxrow")
v0=$(versions)
latest0=$(latest)
status0=$(estatus)

# 1. The protocol as shipped: nothing changes (the key check that the
#    shared decisions give what the writer gave).
c0=$(counts)
rev --protocol-file "$PROTO" >"$TMP/same.out"
check "same protocol: exit 0" test $? -eq 0
check "same protocol: no change line" eq "$(changes "$TMP/same.out")" ""
check "same protocol: eligibility 0 new, 0 retracted, 9 unchanged" eq "$(summary "$TMP/same.out" eligibility)" 0/0/0/9
check "same protocol: data_quality 3 unchanged" eq "$(summary "$TMP/same.out" data_quality)" 0/0/0/3
check "same protocol: no verdict appended, nothing written" eq "$(counts)" "$c0"
check "same protocol: totals (10 patients, 14 messages, verdicts 0)" json_assert "$TMP/same.out" \
	'L[-1]["patients"] == 10 and L[-1]["messages"] == 14 and L[-1]["verdicts"] == 0'
check "same protocol: no patient's version bumped" eq "$(versions)" "$v0"

# 2. Thresholds moved, dry run: the difference, nothing written.
rev --protocol-file "$TMP/data/protocols/moved.conf" --dry-run >"$TMP/dry.out"
check "dry run: exit 0" test $? -eq 0
check "dry run: eligibility 7 new, 6 retracted, 3 unchanged" eq "$(summary "$TMP/dry.out" eligibility)" 7/6/0/3
check "dry run: data_quality 1 new (ET's ALT), 3 unchanged" eq "$(summary "$TMP/dry.out" data_quality)" 1/0/0/3
check "dry run: 8 verdicts would be appended" json_assert "$TMP/dry.out" 'L[-1]["verdicts"] == 8 and L[-1]["dry_run"] is True'
check "dry run: nothing written" eq "$(counts) $(versions) $(estatus)" "$c0 $v0 $status0"
rev --protocol-file "$TMP/data/protocols/moved.conf" --dry-run --patient EA >"$TMP/dry_ea.out"
check "--patient EA: EA's alerts only, with message and verdict" json_assert "$TMP/dry_ea.out" \
	'sorted((d["change"], d["verdict"]) for d in L if "change" in d) == [("new", "ineligible"), ("retracted", "eligible")] and all(d["patient"] == "EA" and d["message"] > 0 for d in L if "change" in d)'

# 3. Written: the expected new and retracted alerts, per patient.
rev --protocol-file "$TMP/data/protocols/moved.conf" >"$TMP/moved.out"
check "moved: exit 0" test $? -eq 0
check "moved: eligibility 7 new, 6 retracted, 3 unchanged" eq "$(summary "$TMP/moved.out" eligibility)" 7/6/0/3
check "moved: data_quality 1 new" eq "$(summary "$TMP/moved.out" data_quality)" 1/0/0/3
check "moved: toxicity and holds unchanged" eq "$(summary "$TMP/moved.out" toxicity)" 0/0/0/0
moved="$(want 4),EG:G1:ineligible,EH:H1:eligible,EQ:Q1:incomplete"
check "moved: the eligibility alerts are the table's as moved" eq "$(ealerts)" "$moved"
check "moved: the retracted ones are those of the table as shipped that went" eq \
	"$(ealerts "= 'retracted'")" "EA:A1:eligible,EC:C1:ineligible,EE:E1:eligible,EF:F1:incomplete,EG:G1:eligible,EG:G2:ineligible"
hash=$(sha256sum "$TMP/data/protocols/moved.conf" | cut -d' ' -f1)
check "moved: each retracted with the reason" eq \
	"$(q "select count(*) from labwatch.alerts where kind = 'eligibility' and state = 'retracted' and resolve_note = 're-evaluated under sha256:$hash'")" 6
check "moved: ineligible alerts are warnings, the others info" eq \
	"$(q "select string_agg(distinct (details->>'status') || ':' || severity, ',') from labwatch.alerts where kind = 'eligibility' and state <> 'retracted'")" \
	"eligible:info,incomplete:info,ineligible:warning"
check "moved: EA's new alert names the moved criterion" eq \
	"$(q "select a.summary from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'EA' and a.kind = 'eligibility' and a.state = 'open'")" \
	"Patient EA is INELIGIBLE for NCT04933669; platelets < 100 x 10^9/L: 90 10^9/L"
check "moved: ET's ALT without a range: data_quality no_reference_range" eq "$(dq)" \
	"EQ:alt:range_unreadable,EQ:ast:unit_unknown,EQ:plt:status_unknown,ET:alt:no_reference_range"
check "moved: 8 verdicts appended (criterion texts moved too)" json_assert "$TMP/moved.out" 'L[-1]["verdicts"] == 8'
check "moved: the latest verdicts follow (EH's, on treatment, as it was)" eq "$(latest)" \
	"EA:ineligible,EB:ineligible,EC:eligible,ED:ineligible,EE:eligible,EF:ineligible,EG:ineligible,EH:eligible,EQ:incomplete"
check "moved: EH's eligibility alert (screening, now on treatment) left open" eq \
	"$(q "select string_agg(a.state, ',') from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'EH' and a.kind = 'eligibility'")" open
check "moved: enrollments.eligibility_status follows" eq "$(estatus)" \
	"EA:ineligible,EB:ineligible,EC:eligible,ED:ineligible,EE:eligible,EF:ineligible,EG:ineligible,EQ:incomplete"
check "moved: an appended verdict rests on its patient's last message judged" eq \
	"$(q "select m.control_id || ':' || x.status || ':' || (select c->>'verdict' from jsonb_array_elements(x.criteria) c where c->>'analyte' = 'plt') from labwatch.eligibility x join labwatch.messages m on m.id = x.message join labwatch.patients p on p.id = x.patient where p.patient_id = 'ED' order by x.id desc limit 1")" \
	"D2:ineligible:fail"
check "moved: labwatch status shows the verdict judged now" json_assert "$("$LW" status --json EF >"$TMP/st.json"; echo "$TMP/st.json")" \
	'L[0]["eligibility"]["status"] == "ineligible"'
check "moved: the stored verdict rows never changed" eq "$(erows "$maxrow")" "$rows0"
c1=$(counts)
v1=$(versions)
rev --protocol-file "$TMP/data/protocols/moved.conf" >"$TMP/moved2.out"
check "moved twice: nothing the second time" eq "$(changes "$TMP/moved2.out")|$(counts)|$(versions)" "|$c1|$v1"
check "moved twice: eligibility 10 unchanged, no verdict" json_assert "$TMP/moved2.out" \
	'[d for d in L if d.get("kind") == "eligibility" and "new" in d][0]["unchanged"] == 10 and L[-1]["verdicts"] == 0'

# 4. Back to the protocol as shipped: the alerts of the table as shipped
#    again, the data_quality alert retracted, the latest verdicts as
#    labwatchd left them.
rev --protocol-file "$PROTO" >"$TMP/back.out"
check "back: eligibility 6 new, 7 retracted, 3 unchanged" eq "$(summary "$TMP/back.out" eligibility)" 6/7/0/3
check "back: ET's data_quality retracted" eq "$(summary "$TMP/back.out" data_quality)" 0/1/0/3
check "back: the eligibility alerts are labwatchd's again" eq "$(ealerts)" "$shipped"
check "back: the latest verdicts and statuses as labwatchd left them" eq "$(latest) $(estatus)" "$latest0 $status0"
c2=$(counts)
rev --protocol-file "$PROTO" >"$TMP/back2.out"
check "back twice: nothing the second time" eq "$(changes "$TMP/back2.out")|$(counts)" "|$c2"
frozen >"$TMP/frozen.after"
check "messages and observations never touched" cmp -s "$TMP/frozen.before" "$TMP/frozen.after"
check "the stored verdict rows never changed" eq "$(erows "$maxrow")" "$rows0"

# 5. The table output says the verdicts and the eligibility lines.
"$LW" reevaluate --format table --dry-run --protocol-file "$TMP/data/protocols/moved.conf" >"$TMP/table.out"
check "table: per-kind summary with eligibility" grep -qE '^eligibility +7 +6 +0 +3' "$TMP/table.out"
check "table: a change line with its verdict" grep -qE '^new +eligibility +EA .* ineligible +open' "$TMP/table.out"
check "table: verdicts appended said" grep -q "8 eligibility verdicts appended" "$TMP/table.out"

done_testing
