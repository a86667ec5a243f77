#!/bin/sh
# labwatch check: screening verdicts, treatment grades, baselines, the
# window, problems, and usage errors, on messages as a LIS sends them.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LW="$top_builddir/cli/labwatch"
PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
chk() { "$LW" check --protocol "$PROTO" "$@"; }

normal7() { # all seven analytes within limits
	echo "1920-8|NM|25|U/L|10-40" "1742-6|NM|30|U/L|10-40" \
	    "1975-2|NM|0.8|mg/dL|0.2-1.2" "2160-0|NM|0.9|mg/dL|0.6-1.2" \
	    "751-8|NM|3.2|10*9/L|1.8-7.5" "777-3|NM|250|10*9/L|150-400" \
	    "718-7|NM|13.5|g/dL|12.0-16.0"
}

# 1. Screening: eligible, ineligible on AST, incomplete without Hb.
# shellcheck disable=SC2046
{
	oru P1 C1 20261118080000+0800 $(normal7)
	oru P2 C2 20261118080000+0800 "1920-8|NM|101|U/L|10-40" $(normal7 | cut -d' ' -f2-)
	oru P3 C3 20261118080000+0800 $(normal7 | cut -d' ' -f1-6)
	oru P4 C4 20261118080000+0800 "1920-8|NM|100|U/L|10-40" $(normal7 | cut -d' ' -f2-)
} >"$TMP/screen.hl7"
chk --at 2026-11-20T00:00:00Z "$TMP/screen.hl7" >"$TMP/screen.json"
check "screening exits 0" test $? -eq 0
check "all seven analytes on one line each" json_assert "$TMP/screen.json" \
	'len(O) == 7 + 7 + 6 + 7 and all(o["canonical_unit"] for o in O)'
check "normal labs: eligible" json_assert "$TMP/screen.json" \
	'P["P1"]["eligibility"] == "eligible" and all(c["verdict"] == "pass" for c in P["P1"]["criteria"])'
check "AST 101 with ULN 40 (> 2.5 x ULN): ineligible" json_assert "$TMP/screen.json" \
	'P["P2"]["eligibility"] == "ineligible" and [c["verdict"] for c in P["P2"]["criteria"] if c["analyte"] == "ast"] == ["fail"]
	 and [c["control_id"] for c in P["P2"]["criteria"] if c["analyte"] == "ast"] == ["C2"]'
check "AST exactly 2.5 x ULN passes (milder side)" json_assert "$TMP/screen.json" \
	'P["P4"]["eligibility"] == "eligible"'
check "no hemoglobin: incomplete" json_assert "$TMP/screen.json" \
	'P["P3"]["eligibility"] == "incomplete" and [c["verdict"] for c in P["P3"]["criteria"] if c["analyte"] == "hgb"] == ["no_result"]'
check "units converted (bilirubin mg/dL x 17.1, Hb g/dL x 10)" json_assert "$TMP/screen.json" \
	'[o["canonical_value"] for o in O if o["patient_id"] == "P1" and o["analyte"] in ("tbil", "hgb")] == [13.68, 135]'

# 2. The 14-day window: the same labs, evaluated 15 days later.
chk --at 2026-12-03T00:00:00Z "$TMP/screen.hl7" >"$TMP/late.json"
check "results older than the window: incomplete" json_assert "$TMP/late.json" \
	'P["P1"]["eligibility"] == "incomplete"'

# 3. Treatment: a comparator, hold thresholds, a unit we do not know, and a
#    percentage that must not be read as a count.
oru T1 D1 20261120073000+0800 "751-8|ST|<0.1|10*9/L|1.8-7.5" "777-3|NM|45|10*9/L|150-400" \
	"1920-8|NM|30|mg/L|10-40" "770-8|NM|5|%|40-75" "1742-6|NM|210|U/L|10-40" >"$TMP/treat.hl7"
chk --phase treatment "$TMP/treat.hl7" >"$TMP/treat.json"
check "treatment exits 0" test $? -eq 0
check "ANC <0.1 is grade 4 and a hold" json_assert "$TMP/treat.json" \
	'[(o["grade"], o["hold"], o["comparator"]) for o in O if o["analyte"] == "anc"] == [(4, True, "<")]'
check "platelets 45: grade 3, hold" json_assert "$TMP/treat.json" \
	'[(o["grade"], o["hold"]) for o in O if o["analyte"] == "plt"] == [(3, True)]'
check "AST in mg/L: unit_unknown, no grade" json_assert "$TMP/treat.json" \
	'[(o["problem"], o["grade"]) for o in O if o["analyte"] == "ast"] == [("unit_unknown", None)]'
check "neutrophils % not mapped" json_assert "$TMP/treat.json" \
	'not [o for o in O if o["code"] == "770-8"]'
check "ALT 210 with ULN 40: 5.25 x ULN, grade 3, hold" json_assert "$TMP/treat.json" \
	'[(o["grade"], o["x_uln"], o["hold"]) for o in O if o["analyte"] == "alt"] == [(3, 5.25, True)]'

# 3b. Comparators that leave the grade open (CLINICAL.md, issue 11 item 5):
#     graded at the grade the value is known to reach, and said so
#     (grade_is_minimum); an exact value or a closed interval is not a
#     minimum; toward normal across two grades stays indeterminate. The
#     stop (platelets < 50) only when certain. Eligibility passes or fails
#     only when every value the result may stand for agrees.
oru T3 D3 20261120073000+0800 "777-3|ST|<75|10*9/L|150-400" "1920-8|ST|>150|U/L|10-40" \
	"718-7|ST|<90|g/L|120-160" "2160-0|ST|>200|umol/L|60-100" >"$TMP/open.hl7"
oru T4 D4 20261120073000+0800 "777-3|ST|<25|10*9/L|150-400" "1920-8|ST|>800|U/L|10-40" \
	"751-8|ST|>=1.5|10*9/L|2.0-7.5" "1742-6|NM|210|U/L|10-40" >>"$TMP/open.hl7"
chk --phase treatment "$TMP/open.hl7" >"$TMP/open.json"
check "every line says grade_is_minimum" json_assert "$TMP/open.json" \
	'len(O) == 8 and all(isinstance(o.get("grade_is_minimum"), bool) for o in O)'
check "platelets <75: grade 2, a minimum, no stop" json_assert "$TMP/open.json" \
	'[(o["grade"], o["grade_is_minimum"], o["hold"]) for o in O if o["patient_id"] == "T3" and o["analyte"] == "plt"] == [(2, True, False)]'
check "AST >150 (ULN 40), Hb <90 g/L, creatinine >200 (ULN 100): grade 2 minimums" json_assert "$TMP/open.json" \
	'[(o["analyte"], o["grade"], o["grade_is_minimum"]) for o in O if o["patient_id"] == "T3" and o["analyte"] != "plt"] == [("ast", 2, True), ("hgb", 2, True), ("crea", 2, True)]'
check "platelets <25, AST >800 (20 x ULN): grade 4, not a minimum" json_assert "$TMP/open.json" \
	'[(o["analyte"], o["grade"], o["grade_is_minimum"], o["hold"]) for o in O if o["patient_id"] == "T4" and o["analyte"] in ("plt", "ast")] == [("plt", 4, False, True), ("ast", 4, False, True)]'
check "ANC >=1.5 with LLN 2.0: indeterminate, no grade, not a minimum" json_assert "$TMP/open.json" \
	'[(o["grade"], o["grade_is_minimum"], o["problem"]) for o in O if o["analyte"] == "anc"] == [(None, False, "indeterminate")]'
check "an exact value is not a minimum" json_assert "$TMP/open.json" \
	'[(o["grade"], o["grade_is_minimum"]) for o in O if o["analyte"] == "alt"] == [(3, False)]'
# shellcheck disable=SC2046
{
	oru P5 C5 20261118080000+0800 $(normal7 | cut -d' ' -f1-5) "777-3|ST|<75|10*9/L|150-400" $(normal7 | cut -d' ' -f7)
	oru P6 C6 20261118080000+0800 $(normal7 | cut -d' ' -f1-5) "777-3|ST|>=75|10*9/L|150-400" $(normal7 | cut -d' ' -f7)
	oru P7 C7 20261118080000+0800 $(normal7 | cut -d' ' -f1-5) "777-3|ST|<100|10*9/L|150-400" $(normal7 | cut -d' ' -f7)
} >"$TMP/open_screen.hl7"
chk --at 2026-11-20T00:00:00Z "$TMP/open_screen.hl7" >"$TMP/open_screen.json"
check "screening: platelets <75 fails PLT < 75 (every value below 75)" json_assert "$TMP/open_screen.json" \
	'P["P5"]["eligibility"] == "ineligible" and [c["verdict"] for c in P["P5"]["criteria"] if c["analyte"] == "plt"] == ["fail"]'
check "screening: platelets >=75 passes (ungradable, yet every value passes)" json_assert "$TMP/open_screen.json" \
	'P["P6"]["eligibility"] == "eligible"'
check "screening: platelets <100 spans 75: no verdict, incomplete" json_assert "$TMP/open_screen.json" \
	'P["P7"]["eligibility"] == "incomplete" and [c["verdict"] for c in P["P7"]["criteria"] if c["analyte"] == "plt"] == ["no_result"]'

# 4. A baseline changes the grade: ALT 160 is 4 x ULN (grade 2) with a
#    normal baseline, 1.6 x an abnormal baseline of 100 (grade 1).
oru T2 D2 20261120073000+0800 "1742-6|NM|160|U/L|10-40" >"$TMP/alt.hl7"
chk --phase treatment "$TMP/alt.hl7" >"$TMP/alt0.json"
chk --phase treatment --baseline "alt=100 U/L" "$TMP/alt.hl7" >"$TMP/alt1.json"
check "ALT 160 without baseline: grade 2" json_assert "$TMP/alt0.json" 'O[0]["grade"] == 2'
check "ALT 160 with baseline 100 U/L: grade 1" json_assert "$TMP/alt1.json" 'O[0]["grade"] == 1'

# 4b. OBX-7 is the laboratory's range, in every form it writes; one that is
#     there but unreadable is range_unreadable, never the default ULN 40
#     (issue 11): ALT 190 U/L against the lab's ULN 35 is 5.4 x ULN, grade 3
#     and a stop; on the default 40 it was 4.75 x, grade 2, nothing.
{
	oru R1 E1 20261120073000+0800 "1742-6|NM|190|U/L|<35 U/L" \
	    "1920-8|NM|190|U/L|see note"
	oru R2 E2 20261120073000+0800 "1742-6|NM|190|U/L|10–35"
	oru R3 E3 20261120073000+0800 "1742-6|NM|190|U/L|M 10-50; F 10-35"
	(ORU_SEX=M && oru R4 E4 20261120073000+0800 "1742-6|NM|190|U/L|M 10-50; F 10-35")
	(ORU_SEX= && oru R5 E5 20261120073000+0800 "1742-6|NM|190|U/L|M 10-50; F 10-35")
	oru R6 E6 20261120073000+0800 "1975-2|NM|30|umol/L|3-21 U/L"
} >"$TMP/range.hl7"
chk --phase treatment "$TMP/range.hl7" >"$TMP/range.json"
check "ALT 190, OBX-7 '<35 U/L': ULN 35, 5.43 x ULN, grade 3, hold" json_assert "$TMP/range.json" \
	'[(o["uln"], round(o["x_uln"], 2), o["grade"], o["hold"], o["range_source"], o["problem"])
	  for o in O if o["patient_id"] == "R1" and o["analyte"] == "alt"] == [(35, 5.43, 3, True, "obx7", None)]'
check "AST 190, OBX-7 'see note': range_unreadable, no grade, no default" json_assert "$TMP/range.json" \
	'[(o["problem"], o["grade"], o["uln"], o["x_uln"], o["range_source"], o["hold"], o["eligibility"])
	  for o in O if o["patient_id"] == "R1" and o["analyte"] == "ast"] == [("range_unreadable", None, None, None, "none", False, None)]'
check "ALT 190, OBX-7 '10–35' (en dash): grade 3" json_assert "$TMP/range.json" \
	'[(o["uln"], o["grade"]) for o in O if o["patient_id"] == "R2"] == [(35, 3)]'
check "'M 10-50; F 10-35', PID-8 F: ULN 35, grade 3" json_assert "$TMP/range.json" \
	'[(o["uln"], o["grade"]) for o in O if o["patient_id"] == "R3"] == [(35, 3)]'
check "'M 10-50; F 10-35', PID-8 M: ULN 50, grade 2" json_assert "$TMP/range.json" \
	'[(o["uln"], o["grade"]) for o in O if o["patient_id"] == "R4"] == [(50, 2)]'
check "'M 10-50; F 10-35', no PID-8: range_unreadable" json_assert "$TMP/range.json" \
	'[(o["problem"], o["grade"]) for o in O if o["patient_id"] == "R5"] == [("range_unreadable", None)]'
check "bilirubin in umol/L, OBX-7 in U/L: range_unreadable" json_assert "$TMP/range.json" \
	'[(o["problem"], o["grade"]) for o in O if o["patient_id"] == "R6"] == [("range_unreadable", None)]'
# Screening: AST 190 on the default ULN 40 failed the criterion; unread, it
# gives no verdict (no_result, incomplete).
oru S1 F1 20261118080000+0800 "1920-8|NM|190|U/L|see note" $(normal7 | cut -d' ' -f2-) >"$TMP/range_s.hl7"
chk --at 2026-11-20T00:00:00Z "$TMP/range_s.hl7" >"$TMP/range_s.json"
check "screening AST with unreadable OBX-7: no verdict, incomplete" json_assert "$TMP/range_s.json" \
	'P["S1"]["eligibility"] == "incomplete" and [c["verdict"] for c in P["S1"]["criteria"] if c["analyte"] == "ast"] == ["no_result"]'

# 4c. Nothing skipped in silence (issue 11 item 2): OBX-3 with ALT's LOINC
#     and AST's in the alternate triplet is a line with code_conflict (it
#     had none), and the latest ALT and AST of the patient, so that neither
#     criterion passes on the older results (item 3); an empty or unknown
#     OBX-11 is status_unknown, stored, not graded.
# shellcheck disable=SC2046
{
	oru K1 G1 20261118080000+0800 $(normal7)
	oru K1 G2 20261118090000+0800 "1742-6^ALT^LN^1920-8|NM|30|U/L|10-40"
	oru K2 G3 20261118080000+0800 $(normal7)
	oru K2 G4 20261118090000+0800 "1742-6|NM|30|mg/L|10-40"
} >"$TMP/conflict.hl7"
chk --at 2026-11-20T00:00:00Z "$TMP/conflict.hl7" >"$TMP/conflict.json"
check "code conflict: a line, no analyte, problem code_conflict, no grade" json_assert "$TMP/conflict.json" \
	'[(o["analyte"], o["code"], o["problem"], o["grade"]) for o in O if o["patient_id"] == "K1" and o["analyte"] is None]
	 == [(None, "1742-6", "code_conflict", None)]'
check "... and ALT and AST rest on it: no_result, incomplete" json_assert "$TMP/conflict.json" \
	'P["K1"]["eligibility"] == "incomplete" and sorted(c["analyte"] for c in P["K1"]["criteria"] if c["verdict"] == "no_result") == ["alt", "ast"]'
check "a newer final ALT in mg/L: no_result, never the older pass" json_assert "$TMP/conflict.json" \
	'P["K2"]["eligibility"] == "incomplete" and [c["verdict"] for c in P["K2"]["criteria"] if c["analyte"] == "alt"] == ["no_result"]'
oru K3 G5 20261120073000+0800 "1742-6^ALT^LN^1920-8|NM|30|U/L|10-40" >"$TMP/conflict_t.hl7"
chk --phase treatment "$TMP/conflict_t.hl7" >"$TMP/conflict_t.json"
check "treatment: the conflict has its line too" json_assert "$TMP/conflict_t.json" \
	'[(o["analyte"], o["problem"]) for o in O] == [(None, "code_conflict")]'
{
	(ORU_STATUS= && oru U1 H1 20261120073000+0800 "1742-6|NM|210|U/L|10-40")
	(ORU_STATUS=Z && oru U2 H2 20261120073000+0800 "1742-6|NM|210|U/L|10-40")
} >"$TMP/status.hl7"
chk --phase treatment "$TMP/status.hl7" >"$TMP/status.json"
check "OBX-11 empty or Z: status_unknown, not graded" json_assert "$TMP/status.json" \
	'[(o["patient_id"], o["analyte"], o["problem"], o["grade"]) for o in O]
	 == [("U1", "alt", "status_unknown", None), ("U2", "alt", "status_unknown", None)]'

# 4d. Screening with a newer ALT that is not final (issue 11 follow-up):
#     empty or unknown OBX-11 (status_unknown) or preliminary, at 200 U/L
#     (a fail were it final): the verdict rests on the older final ALT
#     (eligible, from its message), and the newer line says its problem:
#     CLINICAL.md "Result status", stored and not evaluated.
# shellcheck disable=SC2046
{
	oru K4 G6 20261118080000+0800 $(normal7)
	(ORU_STATUS= && oru K4 G7 20261118090000+0800 "1742-6|NM|200|U/L|10-40")
	oru K5 G8 20261118080000+0800 $(normal7)
	(ORU_STATUS=Z && oru K5 G9 20261118090000+0800 "1742-6|NM|200|U/L|10-40")
	oru K6 GA 20261118080000+0800 $(normal7)
	(ORU_STATUS=P && oru K6 GB 20261118090000+0800 "1742-6|NM|200|U/L|10-40")
} >"$TMP/notfinal.hl7"
chk --phase screening --at 2026-11-20T00:00:00Z "$TMP/notfinal.hl7" >"$TMP/notfinal.json"
check "screening, a newer ALT not final: eligible on the older final ALT" json_assert "$TMP/notfinal.json" \
	'all(P[k]["eligibility"] == "eligible" and [(c["verdict"], c["control_id"]) for c in P[k]["criteria"] if c["analyte"] == "alt"] == [("pass", g)]
	     for k, g in (("K4", "G6"), ("K5", "G8"), ("K6", "GA")))'
check "... the newer line says why it was not used" json_assert "$TMP/notfinal.json" \
	'[(o["patient_id"], o["problem"]) for o in O if o["analyte"] == "alt" and o["value"] == 200]
	 == [("K4", "status_unknown"), ("K5", "status_unknown"), ("K6", "not_final")]'

# 4e. Times and numbers byte for byte, as d5a809e (before the screen-speed
# merge: UTC times without gmtime_r, one time written once for a panel, the
# sender's OBX-5 copied) wrote them: a patient line's UTC time across leap
# days (2000, 2100), offsets to +1400 and the year 9999; two patients at one
# time, then a third at another; the sender's value and the canonical one
# rounded to 12 digits (unit factors 17.1, 88.4, 60, 0.001; "1e2", "-0",
# "0.90", SN ">^.5").
for pair in 2024-03-01T12:00:00Z,20240229235959-1200 \
    2100-03-02T00:00:00Z,21000228235959-0500 \
    2000-03-01T00:00:00Z,20000229120000+1400 \
    2099-12-31T23:59:59Z,20991231235959+0001 \
    9999-12-31T23:59:59Z,99991231235959+1400; do
	oru P1 C1 "${pair#*,}" "1920-8|NM|7.25|U/L|10-40" >"$TMP/t.hl7"
	chk --at "${pair%,*}" "$TMP/t.hl7" | tail -n 1 |
	    grep -o '"x_uln":[^,]*,"observed_at":"[^"]*"'
done >"$TMP/times.out"
# two patients, one time, then another: each line its own time
{
	oru P1 C1 20261118080000+0800 "1920-8|NM|25|U/L|10-40"
	oru P2 C2 20261118080000+0800 "1920-8|NM|25|U/L|10-40"
	oru P3 C3 20261119080000-0100 "1920-8|NM|25|U/L|10-40"
} >"$TMP/t3.hl7"
chk --at 2026-11-20T00:00:00Z "$TMP/t3.hl7" | grep '^{"patient_id"' |
    grep -o '"patient_id":"[^"]*"\|"analyte":"ast","criterion":[^}]*' |
    sed 's/"analyte":"ast".*"observed_at"/"observed_at"/' >>"$TMP/times.out"
# treatment: the sender's value, then the canonical one rounded to 12 digits
oru P1 C1 20261118080000+0800 "1975-2|NM|1.17|mg/dL|0.2-1.2" \
    "2160-0|NM|0.90|mg/dL|0.6-1.2" "1920-8|NM|0.85|ukat/L|0.17-0.67" \
    "751-8|NM|1500|/uL|1800-7500" "777-3|NM|1e2|10*9/L|150-400" \
    "718-7|NM|-0|g/dL|12.0-16.0" "1742-6|SN|>^.5|ukat/L|0.1-0.6" >"$TMP/tr.hl7"
chk --phase treatment --at 2026-11-20T00:00:00Z "$TMP/tr.hl7" |
    grep -o '"value":.*"x_uln":[^,]*' >>"$TMP/times.out"
cat >"$TMP/times.want" <<'EOF'
"x_uln":0.18125,"observed_at":"2024-03-01T11:59:59Z"
"x_uln":0.18125,"observed_at":"2100-03-01T04:59:59Z"
"x_uln":0.18125,"observed_at":"2000-02-28T22:00:00Z"
"x_uln":0.18125,"observed_at":"2099-12-31T23:58:59Z"
"x_uln":0.18125,"observed_at":"9999-12-31T09:59:59Z"
"patient_id":"P1"
"observed_at":"2026-11-18T00:00:00Z","control_id":"C1"
"patient_id":"P2"
"observed_at":"2026-11-18T00:00:00Z","control_id":"C2"
"patient_id":"P3"
"observed_at":"2026-11-19T09:00:00Z","control_id":"C3"
"value":1.17,"comparator":null,"unit":"mg/dL","canonical_value":20.007,"canonical_unit":"µmol/L","lln":3.42,"uln":20.52,"range_source":"obx7","x_uln":0.975
"value":0.9,"comparator":null,"unit":"mg/dL","canonical_value":79.56,"canonical_unit":"µmol/L","lln":53.04,"uln":106.08,"range_source":"obx7","x_uln":0.75
"value":0.85,"comparator":null,"unit":"ukat/L","canonical_value":51,"canonical_unit":"U/L","lln":10.2,"uln":40.2,"range_source":"obx7","x_uln":1.26865671642
"value":1500,"comparator":null,"unit":"/uL","canonical_value":1.5,"canonical_unit":"10^9/L","lln":1.8,"uln":7.5,"range_source":"obx7","x_uln":0.2
"value":100,"comparator":null,"unit":"10*9/L","canonical_value":100,"canonical_unit":"10^9/L","lln":150,"uln":400,"range_source":"obx7","x_uln":0.25
"value":0,"comparator":null,"unit":"g/dL","canonical_value":-0,"canonical_unit":"g/L","lln":120,"uln":160,"range_source":"obx7","x_uln":-0
"value":0.5,"comparator":">","unit":"ukat/L","canonical_value":30,"canonical_unit":"U/L","lln":6,"uln":36,"range_source":"obx7","x_uln":0.833333333333
EOF
check "times and numbers, byte for byte" diff -u "$TMP/times.want" "$TMP/times.out"

# 5. Usage errors name what is wrong and exit 2.
chk --phase later "$TMP/alt.hl7" >/dev/null 2>"$TMP/err1"
check "bad --phase exits 2" test $? -eq 2
chk --baseline "xyz=1 U/L" "$TMP/alt.hl7" >/dev/null 2>"$TMP/err2"
check "bad --baseline exits 2" test $? -eq 2
check "bad --baseline says why" grep -q "unknown analyte" "$TMP/err2"
"$LW" check --protocol "$TMP/nope.conf" "$TMP/alt.hl7" >/dev/null 2>"$TMP/err3"
check "missing protocol file exits 2" test $? -eq 2
check "missing protocol file named" grep -q "nope.conf" "$TMP/err3"
chk --at yesterday "$TMP/alt.hl7" >/dev/null 2>&1
check "bad --at exits 2" test $? -eq 2

# 6. Run from a source tree: the default protocol under LABWATCH_DATADIR,
#    laid out as ./scripts/demo env lays out this tree's rules/data (the
#    installed $(datadir)/labwatch may be absent or another version).
(. "$top_srcdir/scripts/lib.sh" && tree_datadir "$TMP/share/labwatch" "$top_srcdir")
LABWATCH_DATADIR="$TMP/share/labwatch" "$LW" check --phase treatment "$TMP/alt.hl7" \
	>"$TMP/tree.json" 2>"$TMP/tree.err"
check "LABWATCH_DATADIR of the tree: default protocol found" test $? -eq 0
check "... and graded with it" json_assert "$TMP/tree.json" \
	'O[0]["analyte"] == "alt" and O[0]["grade"] == 2'
LABWATCH_DATADIR="$TMP/nowhere" "$LW" check "$TMP/alt.hl7" >/dev/null 2>"$TMP/err5"
check "LABWATCH_DATADIR without rules/: exits 2" test $? -eq 2
check "... names the file looked for" \
	grep -q "$TMP/nowhere/rules/protocols/nct04933669.conf: cannot open" "$TMP/err5"
# shellcheck disable=SC2016 # $1 and $2 are sh -c's
check "... and says how to point at the data" sh -c \
	'grep -q "LABWATCH_DATADIR ($2)" "$1" && grep -q -- "--protocol FILE" "$1"' \
	sh "$TMP/err5" "$TMP/nowhere"
LABWATCH_DB="host=$TMP/nodb" LABWATCH_DATADIR="$TMP/nowhere" "$LW" enroll P1 --phase screening \
	--baseline "alt=100 U/L" >/dev/null 2>"$TMP/err6"
check "enroll: LABWATCH_DATADIR without rules/ exits 2 before the database" \
	test $? -eq 2
# shellcheck disable=SC2016 # $1 and $2 are sh -c's
check "... names the file and --protocol-file" sh -c \
	'grep -q "nowhere/rules/protocols/nct04933669.conf" "$1" && grep -q -- "--protocol-file FILE" "$1"' \
	sh "$TMP/err6"

done_testing
