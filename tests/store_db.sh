#!/bin/sh
# libstore against a real private PostgreSQL (no network): rows, duplicates,
# quarantine, alerts and their NOTIFY, the spool while PostgreSQL is down,
# a drain interrupted by kill -9, and determinism of replay.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/pg.sh"
FEED="$top_builddir/tests/store_feed"
PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
PGD=$(mktemp -d /tmp/lw-store.XXXXXX)
chmod 755 "$PGD"
trap 'pg_stop "$PGD" >/dev/null 2>&1; rm -rf "$PGD" "$TMP"' EXIT
pg_start "$PGD" >/dev/null || { echo "cannot start PostgreSQL"; exit 1; }

feed() { "$FEED" --db "$LABWATCH_DB" --protocol "$PROTO" --spool "$PGD/spool" --sql-dir "$top_srcdir/sql" "$@"; }
q() { psql -X -A -t -q -c "$1"; }

# 1. A capture of real-looking messages: all processed, rows written.
feed "$top_srcdir/tests/data/oru_cbc_lf.hl7" "$top_srcdir/tests/data/oru_multi_patient.hl7" >"$TMP/1.json" 2>"$TMP/1.err"
check "first feed exits 0" test $? -eq 0
check "processed and ACKed AA/CA" json_assert "$TMP/1.json" \
	'[m["outcome"] for m in L] == ["processed", "processed"] and all(m["ack_code"] in ("AA", "CA") for m in L)'
n_obs=$(q "select count(*) from labwatch.observations")
check "observations stored" test "$n_obs" -gt 0
check "messages findable by sender and control id" test "$(q "select count(*) from labwatch.messages where sending_application = 'LIS' and control_id is not null")" -ge 1

# 2. The same frames again: duplicates, ACKed again, no new rows.
feed "$top_srcdir/tests/data/oru_cbc_lf.hl7" "$top_srcdir/tests/data/oru_multi_patient.hl7" >"$TMP/2.json" 2>/dev/null
check "resend: duplicates, ACKed as accepted" json_assert "$TMP/2.json" \
	'[m["outcome"] for m in L] == ["duplicate", "duplicate"] and all(m["ack_code"] in ("AA", "CA") for m in L)'
check "resend: one set of rows" test "$(q "select count(*) from labwatch.observations")" -eq "$n_obs"
check "resend: one message row each" test "$(q "select count(*) from labwatch.messages")" -eq 2

# 3. Bad input is kept with its reason and answered AE/AR.
{
	printf 'MSH|^~\\&|LIS|MAINLAB|LW|H|20261120||ORU^R01|BADVER|P|9.9\rPID|1||X1\r'
	printf 'MSH|^~\\&|LIS|MAINLAB|LW|H|20261120||ORU^R01|BADSEG|P|2.5.1\rP@D|1\r'
	printf 'MSH|^~\\&|LIS|MAINLAB|LW|H|20261120||ADT^A01|ADT1|P|2.5.1\rPID|1||X1\r'
	printf 'MSH|^~\\&|LIS|MAINLAB|LW|H|20261120||ORU^R01|NOPID|P|2.5.1\rOBR|1\rOBX|1|NM|718-7^Hb^LN||120|g/L\r'
} >"$TMP/bad.hl7"
feed "$TMP/bad.hl7" >"$TMP/3.json" 2>/dev/null
check "unsupported version: quarantined, AR" json_assert "$TMP/3.json" \
	'L[0]["outcome"] == "quarantined" and L[0]["ack_code"] == "AR" and "203" in L[0]["ack"]'
check "bad segment: quarantined, AE with ERR" json_assert "$TMP/3.json" \
	'L[1]["outcome"] == "quarantined" and L[1]["ack_code"] == "AE" and "ERR" in L[1]["ack"] and "segment" in L[1]["reason"]'
check "other message type: ignored, AA" json_assert "$TMP/3.json" 'L[2]["outcome"] == "ignored" and L[2]["ack_code"] == "AA"'
check "no patient id: quarantined, AE" json_assert "$TMP/3.json" 'L[3]["outcome"] == "quarantined" and L[3]["ack_code"] == "AE"'
check "quarantine rows keep reason and bytes" test "$(q "select count(*) from labwatch.messages where outcome = 'quarantined' and reason is not null and length(raw) > 0")" -eq 3

# 4. Enrolled patients: toxicity, hold and eligibility alerts, with NOTIFY.
q "insert into labwatch.patients (patient_id) values ('T100'), ('S200')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = 'T100'"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'screening', '2026-11-01' from labwatch.patients where patient_id = 'S200'"
{
	oru T100 T1 20261120073000+0800 "1742-6|NM|210|U/L|10-40" "1920-8|NM|30|mg/L|10-40"
	oru T100 T2 20261121073000+0800 "1742-6|NM|900|U/L|10-40"
	oru S200 S1 20261120073000+0800 "1920-8|NM|25|U/L|10-40" "1742-6|NM|30|U/L|10-40" \
		"1975-2|NM|0.8|mg/dL|0.2-1.2" "2160-0|NM|0.9|mg/dL|0.6-1.2" "751-8|NM|3.2|10*9/L|1.8-7.5" \
		"777-3|NM|250|10*9/L|150-400" "718-7|NM|13.5|g/dL|12.0-16.0"
	oru S200 S2 20261121073000+0800 "777-3|NM|60|10*9/L|150-400"
} >"$TMP/enrolled.hl7"
# LISTEN commits on its own; notifications are printed after the sleep.
psql -X -c "LISTEN labwatch_alert" -c "SELECT pg_sleep(4)" >"$TMP/listen.out" 2>&1 &
listener=$!
sleep 1
feed "$TMP/enrolled.hl7" >"$TMP/4.json" 2>/dev/null
wait $listener
alerts() { q "select kind || ':' || coalesce(analyte, '-') || ':' || coalesce(grade::text, '-') || ':' || state from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$1' order by a.id" | tr '\n' ' '; }
check "ALT 5.25 x ULN: grade 3 toxicity, escalated to 4 by ALT 900" \
	sh -c "echo '$(alerts T100)' | grep -q 'toxicity:alt:3:resolved .*toxicity:alt:4:open'"
check "AST in mg/L: a data_quality alert" sh -c "echo '$(alerts T100)' | grep -q 'data_quality:ast:-:open'"
check "ALT > 5 x ULN: hold" sh -c "echo '$(alerts T100)' | grep -q 'hold:alt:-:open'"
check "screening: eligible, then ineligible on platelets 60" \
	sh -c "echo '$(alerts S200)' | grep -q 'eligibility:-:-:open eligibility:-:-:open'"
check "eligibility verdict rows with criteria" test "$(q "select count(*) from labwatch.eligibility where jsonb_array_length(criteria) = 7")" -eq 2
check "alert summary says what to do" test "$(q "select count(*) from labwatch.alerts where kind = 'hold' and summary like 'HOLD imatinib (hepatotoxicity): patient T100%'")" -eq 1
check "a new alert is NOTIFY'd" grep -q 'notification "labwatch_alert"' "$TMP/listen.out"

# 4b. Hold and restart as the label writes them (issue 11 item 6; Gleevec
#     US prescribing information section 2, EU SmPC 4.2). H400, GIST at
#     400 mg: ANC 0.8 holds; ANC 1.8 + platelets 200 resume at 400 mg and
#     resolve the hold alert; ANC 0.7 is a recurrence; the next restart is
#     at 300 mg. H401: ALT 6 x ULN holds; ALT, AST and bilirubin back
#     restart at 300 mg. H402: the ALT a hold rests on comes again with
#     OBX-11 D: the hold alert is retracted, one line says the hold is
#     withdrawn, and normal results later announce no restart. H403: a C
#     corrects the stop result to a normal value: withdrawn too. H404: a
#     hold_state written before (name: epoch) is still read. H405: held,
#     as labwatch status shows it.
q "insert into labwatch.patients (patient_id) values ('H400'), ('H401'), ('H402'), ('H403'), ('H404'), ('H405')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id in ('H400', 'H401', 'H402', 'H403', 'H404', 'H405')"
q "update labwatch.enrollments e set hold_state = '{\"myelosuppression\": 1795000000}' from labwatch.patients p where p.id = e.patient and p.patient_id = 'H404'"
{
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
	oru H404 H4G1 20261121073000+0800 "751-8|NM|1.2|10*9/L|1.8-7.5"
	oru H404 H4G2 20261122073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru H405 H4F1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H405 H4F2 20261121073000+0800 "777-3|NM|40|10*9/L|150-400"
} >"$TMP/holds.hl7"
feed "$TMP/holds.hl7" >"$TMP/4b.json" 2>/dev/null
check "holds: every message processed" json_assert "$TMP/4b.json" 'all(m["outcome"] == "processed" for m in L) and len(L) == 15'
holds() { q "select a.kind || ':' || a.severity || ':' || a.state || ':' || a.summary from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$1' and a.kind in ('hold', 'resume') order by a.id"; }
holds H400 >"$TMP/h400"
check "H400: hold, resume, recurrence hold, resume: four lines" test "$(wc -l <"$TMP/h400")" -eq 4
check "H400: ANC 0.8 holds (critical), resolved by the restart" \
	sh -c "sed -n 1p '$TMP/h400' | grep -q '^hold:critical:resolved:HOLD imatinib (myelosuppression): patient H400, NCT04933669: ANC 0.8 '"
check "H400: the first restart is at 400 mg, nothing of hepatotoxicity" \
	sh -c "sed -n 2p '$TMP/h400' | grep -q '^resume:info:open:RESUME possible (myelosuppression): patient H400, .*restart at 400 mg daily per the label\$' && ! grep -q hepato '$TMP/h400'"
check "H400: ANC 0.7 is a recurrence" \
	sh -c "sed -n 3p '$TMP/h400' | grep -q '^hold:critical:resolved:HOLD imatinib (myelosuppression, recurrence 2): patient H400'"
check "H400: the restart after a recurrence is at 300 mg" \
	sh -c "sed -n 4p '$TMP/h400' | grep -q '^resume:info:open:RESUME possible (myelosuppression, after recurrence 2): .*restart at 300 mg daily per the label\$'"
check "H400: each hold alert is superseded by the resume that answers it" \
	test "$(q "select string_agg((r.summary like 'RESUME%')::text, ',' order by h.id) from labwatch.alerts h join labwatch.alerts r on r.id = h.superseded_by join labwatch.patients p on p.id = h.patient where p.patient_id = 'H400' and h.kind = 'hold'")" = "true,true"
check "H400: not held after the restart, two stops kept" \
	test "$(q "select (e.hold_state->'myelosuppression' ? 'since')::text || ':' || (e.hold_state->'myelosuppression'->>'stops') from labwatch.enrollments e join labwatch.patients p on p.id = e.patient where p.patient_id = 'H400'")" = "false:2"
holds H401 >"$TMP/h401"
check "H401: ALT 6 x ULN holds, the restart is at 300 mg and resolves it" \
	sh -c "sed -n 1p '$TMP/h401' | grep -q '^hold:critical:resolved:HOLD imatinib (hepatotoxicity): patient H401' && sed -n 2p '$TMP/h401' | grep -q '^resume:info:open:RESUME possible (hepatotoxicity): .*restart at 300 mg daily per the label\$' && test \$(wc -l <'$TMP/h401') -eq 2"
holds H402 >"$TMP/h402"
check "H402: D of the ALT the hold rests on: the hold retracted, one withdrawn line, no restart" \
	sh -c "sed -n 1p '$TMP/h402' | grep -q '^hold:critical:retracted:HOLD imatinib (hepatotoxicity)' && sed -n 2p '$TMP/h402' | grep -q '^hold:info:open:HOLD WITHDRAWN (hepatotoxicity): patient H402, NCT04933669 - the result the hold rested on was deleted or marked wrong' && test \$(wc -l <'$TMP/h402') -eq 2"
holds H403 >"$TMP/h403"
check "H403: C of the stop result to 24 U/L: the hold retracted, withdrawn (corrected)" \
	sh -c "sed -n 1p '$TMP/h403' | grep -q '^hold:critical:retracted:' && sed -n 2p '$TMP/h403' | grep -q '^hold:info:open:HOLD WITHDRAWN (hepatotoxicity): .* was corrected' && test \$(wc -l <'$TMP/h403') -eq 2"
holds H404 >"$TMP/h404"
check "H404: a hold_state of the first form is read: restart at 400 mg" \
	sh -c "grep -q '^resume:info:open:RESUME possible (myelosuppression): patient H404.*400 mg' '$TMP/h404' && test \$(wc -l <'$TMP/h404') -eq 1"
check "H404: ... not on ANC 1.2 with no platelets since the hold, on the results that meet the thresholds" \
	test "$(q "select m.control_id from labwatch.alerts a join labwatch.messages m on m.id = a.message join labwatch.patients p on p.id = a.patient where p.patient_id = 'H404' and a.kind = 'resume'")" = H4G2
# H406: held in the neoadjuvant phase, then adjuvant from a later date:
# the hold goes on; platelets alone announce no restart.
q "insert into labwatch.patients (patient_id) values ('H406')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = 'H406'"
oru H406 H4E1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5" >"$TMP/h406a.hl7"
oru H406 H4E2 20261126073000+0800 "777-3|NM|200|10*9/L|150-400" >"$TMP/h406b.hl7"
feed "$TMP/h406a.hl7" >/dev/null 2>&1
q "update labwatch.enrollments e set phase = 'adjuvant', since = '2026-11-25' from labwatch.patients p where p.id = e.patient and p.patient_id = 'H406'"
feed "$TMP/h406b.hl7" >/dev/null 2>&1
holds H406 >"$TMP/h406"
check "H406: a phase change while held: still held, no restart" \
	sh -c "test \$(wc -l <'$TMP/h406') -eq 1 && grep -q '^hold:critical:open:' '$TMP/h406'"
# H407: the ANC a restart rested on is deleted: held again on the first
# stop's result, and the resume that rested on it retracted.
q "insert into labwatch.patients (patient_id) values ('H407')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = 'H407'"
{
	oru H407 H4D1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H407 H4D2 20261121073000+0800 "751-8|NM|1.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	(ORU_STATUS=D && oru H407 H4D2 20261121073000+0800 "751-8|NM|1.8|10*9/L|1.8-7.5") | sed 's/|H4D2|P|2.5.1/|H4D2D|P|2.5.1/'
} >"$TMP/h407.hl7"
feed "$TMP/h407.hl7" >/dev/null 2>&1
holds H407 >"$TMP/h407"
check "H407: D of the restart's ANC: the resume retracted, held again" \
	sh -c "test \$(wc -l <'$TMP/h407') -eq 3 && sed -n 1p '$TMP/h407' | grep -q '^hold:critical:resolved:HOLD imatinib (myelosuppression): patient H407' && sed -n 2p '$TMP/h407' | grep -q '^resume:info:retracted:' && sed -n 3p '$TMP/h407' | grep -q '^hold:critical:open:HOLD imatinib (myelosuppression): patient H407, NCT04933669: ANC 0.8 '"
# H408: a hepatotoxicity restart at 300 mg, then a first myelosuppression
# stop: the label resumes "at the previous dose", 300 mg, not 400.
q "insert into labwatch.patients (patient_id) values ('H408')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = 'H408'"
{
	oru H408 H4C1 20261120073000+0800 "1742-6|NM|240|U/L|10-40"
	oru H408 H4C2 20261121073000+0800 "1742-6|NM|30|U/L|10-40" "1920-8|NM|30|U/L|10-40" "1975-2|NM|10|umol/L|3-21"
	oru H408 H4C3 20261122073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H408 H4C4 20261123073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
} >"$TMP/h408.hl7"
feed "$TMP/h408.hl7" >/dev/null 2>&1
holds H408 >"$TMP/h408"
check "H408: after a hepatotoxicity restart at 300 mg, myelosuppression resumes at 300 mg" \
	sh -c "test \$(wc -l <'$TMP/h408') -eq 4 && sed -n 4p '$TMP/h408' | grep -q '^resume:info:open:RESUME possible (myelosuppression): patient H408, .*restart at 300 mg daily per the label\$'"
check "H404: ... and no longer held after it" \
	test "$(q "select count(*) from labwatch.enrollments e join labwatch.patients p on p.id = e.patient, jsonb_each(e.hold_state) j where p.patient_id = 'H404' and j.value ? 'since'")" -eq 0
# Review of the hold merge. H410: ANC 0.8 holds; ANC 2.0 observed at the
# same time comes in a later message (the later arrival stands), no
# platelets: the hold is kept, no restart. H411: recurrence 2 and a
# restart at 300 mg in the neoadjuvant phase, then adjuvant from a later
# date: the next stop is recurrence 3 and the restart stays at 300 mg.
# H412: D of the stop result after its restart: the hold and the resume
# retracted, one withdrawn line, and the next stop is the first again.
# H413/H415: a malformed or null since in hold_state is skipped (no derivation
# from epoch 0); H414: a fractional one keeps obs and stops.
q "insert into labwatch.patients (patient_id) values ('H410'), ('H411'), ('H412'), ('H413'), ('H414')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id in ('H410', 'H411', 'H412', 'H414')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-20' from labwatch.patients where patient_id = 'H413'"
q "update labwatch.enrollments e set hold_state = '{\"myelosuppression\": {\"since\": \"x\"}}' from labwatch.patients p where p.id = e.patient and p.patient_id = 'H413'"
q "insert into labwatch.patients (patient_id) values ('H415')"
q "insert into labwatch.enrollments (patient, protocol, phase, since, hold_state) select id, 'NCT04933669', 'neoadjuvant', '2026-11-20', '{\"myelosuppression\": {\"since\": null, \"obs\": 0, \"stops\": 1}}' from labwatch.patients where patient_id = 'H415'"
q "update labwatch.enrollments e set hold_state = '{\"myelosuppression\": {\"since\": 1795131000.5, \"obs\": 0, \"stops\": 2}}' from labwatch.patients p where p.id = e.patient and p.patient_id = 'H414'"
{
	oru H410 H4B1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H410 H4B2 20261120073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5"
	oru H411 H4Z1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H411 H4Z2 20261121073000+0800 "751-8|NM|1.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru H411 H4Z3 20261122073000+0800 "751-8|NM|0.7|10*9/L|1.8-7.5"
	oru H411 H4Z4 20261123073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru H412 H4Y1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H412 H4Y2 20261121073000+0800 "751-8|NM|1.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	(ORU_STATUS=D && oru H412 H4Y1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5") | sed 's/|H4Y1|P|2.5.1/|H4Y1D|P|2.5.1/'
	oru H413 H4X1 20261110073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H415 H4V1 20261110073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H414 H4W1 20261122073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
} >"$TMP/h41x.hl7"
feed "$TMP/h41x.hl7" >/dev/null 2>&1
holds H410 >"$TMP/h410"
check "H410: a later ANC 2.0 at the stop's time, no platelets: held, no restart" \
	sh -c "test \$(wc -l <'$TMP/h410') -eq 1 && grep -q '^hold:critical:open:HOLD imatinib (myelosuppression): patient H410' '$TMP/h410'"
holds H412 >"$TMP/h412"
check "H412: D of the stop result after its restart: hold and resume retracted, one withdrawn line" \
	sh -c "test \$(wc -l <'$TMP/h412') -eq 3 && sed -n 1p '$TMP/h412' | grep -q '^hold:critical:retracted:' && sed -n 2p '$TMP/h412' | grep -q '^resume:info:retracted:' && sed -n 3p '$TMP/h412' | grep -q '^hold:info:open:HOLD WITHDRAWN (myelosuppression): patient H412'"
check "H413: since \"x\" in hold_state: skipped, no derivation from epoch 0, no hold since 0" \
	test "$(q "select count(*) from labwatch.enrollments e join labwatch.patients p on p.id = e.patient, jsonb_each(e.hold_state) j where p.patient_id = 'H413' and j.value->>'since' = '0'")$(holds H413 | wc -l)" = 00
oru H413 H4X2 20261121073000+0800 "751-8|NM|0.7|10*9/L|1.8-7.5" >"$TMP/h413.hl7"
feed "$TMP/h413.hl7" >/dev/null 2>&1
holds H413 >"$TMP/h413"
check "H413: ... and a stop in treatment is announced, the first" \
	sh -c "test \$(wc -l <'$TMP/h413') -eq 1 && grep -q '^hold:critical:open:HOLD imatinib (myelosuppression): patient H413, NCT04933669: ANC 0.7 ' '$TMP/h413'"
check "H415: since null in hold_state: skipped as well" \
	test "$(q "select count(*) from labwatch.enrollments e join labwatch.patients p on p.id = e.patient, jsonb_each(e.hold_state) j where p.patient_id = 'H415' and j.value->>'since' = '0'")$(holds H415 | wc -l)" = 00
holds H414 >"$TMP/h414"
check "H414: a fractional since keeps stops: the restart after recurrence 2 is at 300 mg" \
	sh -c "test \$(wc -l <'$TMP/h414') -eq 1 && grep -q '^resume:info:open:RESUME possible (myelosuppression, after recurrence 2): patient H414.*restart at 300 mg' '$TMP/h414'"
q "update labwatch.enrollments e set phase = 'adjuvant', since = '2026-11-25' from labwatch.patients p where p.id = e.patient and p.patient_id = 'H411'"
{
	oru H411 H4Z5 20261126073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H411 H4Z6 20261127073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
	oru H412 H4Y3 20261122073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H412 H4Y4 20261123073000+0800 "751-8|NM|2.0|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
} >"$TMP/h41y.hl7"
feed "$TMP/h41y.hl7" >/dev/null 2>&1
holds H411 >"$TMP/h411"
check "H411: a phase change keeps the count: recurrence 3, restart at 300 mg" \
	sh -c "test \$(wc -l <'$TMP/h411') -eq 6 && sed -n 5p '$TMP/h411' | grep -q '^hold:critical:resolved:HOLD imatinib (myelosuppression, recurrence 3): patient H411' && sed -n 6p '$TMP/h411' | grep -q '^resume:info:open:RESUME possible (myelosuppression, after recurrence 3): patient H411, .*restart at 300 mg'"
holds H412 >"$TMP/h412"
check "H412: the withdrawn stop is not counted: the next is the first, restart at 400 mg" \
	sh -c "test \$(wc -l <'$TMP/h412') -eq 5 && sed -n 4p '$TMP/h412' | grep -q '^hold:critical:resolved:HOLD imatinib (myelosuppression): patient H412' && sed -n 5p '$TMP/h412' | grep -q '^resume:info:open:RESUME possible (myelosuppression): patient H412, .*restart at 400 mg'"
# H416: the resume a clinician already resolved: D of the stop result
# retracts the hold and the resume, and sends no withdrawn line.
q "insert into labwatch.patients (patient_id) values ('H416')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = 'H416'"
{
	oru H416 H4U1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5"
	oru H416 H4U2 20261121073000+0800 "751-8|NM|1.8|10*9/L|1.8-7.5" "777-3|NM|200|10*9/L|150-400"
} >"$TMP/h416a.hl7"
(ORU_STATUS=D && oru H416 H4U1 20261120073000+0800 "751-8|NM|0.8|10*9/L|1.8-7.5") | sed 's/|H4U1|P|2.5.1/|H4U1D|P|2.5.1/' >"$TMP/h416b.hl7"
feed "$TMP/h416a.hl7" >/dev/null 2>&1
q "update labwatch.alerts a set state = 'resolved', resolved_at = now() from labwatch.patients p where p.id = a.patient and p.patient_id = 'H416' and a.kind = 'resume'"
feed "$TMP/h416b.hl7" >/dev/null 2>&1
holds H416 >"$TMP/h416"
check "H416: D after a resume already resolved: hold and resume retracted, no withdrawn line" \
	sh -c "test \$(wc -l <'$TMP/h416') -eq 2 && sed -n 1p '$TMP/h416' | grep -q '^hold:critical:retracted:' && sed -n 2p '$TMP/h416' | grep -q '^resume:info:retracted:'"
"$top_builddir/cli/labwatch" status --db "$LABWATCH_DB" H405 >"$TMP/h405.json" 2>&1
check "H405: labwatch status shows the hold: since, the ANC it rests on, one stop; one hold alert" json_assert "$TMP/h405.json" \
	'list(L[0]["enrollment"]["hold_state"]) == ["myelosuppression"] and L[0]["enrollment"]["hold_state"]["myelosuppression"]["stops"] == 1 and L[0]["enrollment"]["hold_state"]["myelosuppression"]["since"] == 1795131000 and L[0]["enrollment"]["hold_state"]["myelosuppression"]["obs"] > 0 and [a["kind"] for a in L[0]["open_alerts"]].count("hold") == 1'

# 5. Determinism: the same archive into an empty database, the same alerts;
#    also one frame per batch, where each batch is started while the one
#    before it commits (T2 escalates T1's alert: it must see T1's rows).
replay_into() {
	db=$1
	shift
	psql -X -q -c "create database $db" >/dev/null
	"$FEED" --db "host=$PGHOST dbname=$db user=postgres" --protocol "$PROTO" --spool "$PGD/spool-$db" \
		--sql-dir "$top_srcdir/sql" /dev/null >/dev/null 2>&1
	psql -X -q -d "$db" -c "insert into labwatch.patients (patient_id) values ('T100'), ('S200')" \
		-c "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', case patient_id when 'T100' then 'neoadjuvant' else 'screening' end, '2026-11-01' from labwatch.patients"
	"$FEED" --db "host=$PGHOST dbname=$db user=postgres" --protocol "$PROTO" --spool "$PGD/spool-$db" "$@" "$TMP/enrolled.hl7" >/dev/null 2>&1
}
sig="select string_agg(kind || coalesce(analyte, '') || coalesce(grade::text, '') || state || (superseded_by is not null)::text || summary, '|' order by a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id in ('T100', 'S200')"
replay_into replay
check "replay gives the same alerts" test "$(q "$sig")" = "$(psql -X -A -t -d replay -c "$sig")"
replay_into replay1 --batch 1
check "one frame per batch (overlapping): the same alerts" test "$(q "$sig")" = "$(psql -X -A -t -d replay1 -c "$sig")"

# 5a. OBX-7 as the laboratory wrote it (issue 11 item 1). ALT 190 U/L with
#     "<35 U/L" is 5.4 x the lab's ULN: grade 3 and a hold (it was graded 2
#     on the default 40, with neither). AST 190 with "see note" is
#     range_unreadable: a data_quality alert, no toxicity, no verdict (the
#     default 40 made it grade 2 in treatment and a fail in screening).
q "insert into labwatch.patients (patient_id) values ('T101'), ('S201')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = 'T101'"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'screening', '2026-11-01' from labwatch.patients where patient_id = 'S201'"
{
	oru T101 U1 20261120073000+0800 "1742-6|NM|190|U/L|<35 U/L" "1920-8|NM|190|U/L|see note"
	oru S201 W1 20261120073000+0800 "1920-8|NM|190|U/L|see note" "1742-6|NM|30|U/L|10-40" \
		"1975-2|NM|0.8|mg/dL|0.2-1.2" "2160-0|NM|0.9|mg/dL|0.6-1.2" "751-8|NM|3.2|10*9/L|1.8-7.5" \
		"777-3|NM|250|10*9/L|150-400" "718-7|NM|13.5|g/dL|12.0-16.0"
} >"$TMP/range.hl7"
feed "$TMP/range.hl7" >"$TMP/5a.json" 2>/dev/null
check "ALT 190 with OBX-7 '<35 U/L': grade 3 toxicity and a hold" \
	sh -c "echo '$(alerts T101)' | grep -q 'toxicity:alt:3:open' && echo '$(alerts T101)' | grep -q 'hold:alt:-:open'"
check "AST with OBX-7 'see note': a data_quality alert, no toxicity" \
	sh -c "echo '$(alerts T101)' | grep -q 'data_quality:ast:-:open' && ! echo '$(alerts T101)' | grep -q 'toxicity:ast'"
check "... which says range_unreadable and the OBX-7 sent" test "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'T101' and a.kind = 'data_quality' and a.summary like '%range_unreadable (OBX-7 \"see note\")'")" -eq 1
check "... and the row: no grade, no range, problem range_unreadable" \
	test "$(q "select coalesce(grade::text, '-') || ':' || coalesce(uln::text, '-') || ':' || range_source || ':' || problem from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'T101' and o.analyte = 'ast'")" = "-:-:none:range_unreadable"
elig=$(q "select e.status from labwatch.eligibility e join labwatch.patients p on p.id = e.patient where p.patient_id = 'S201' order by e.id desc limit 1")
check "screening, AST with OBX-7 'see note': data_quality, eligibility incomplete" \
	sh -c "echo '$(alerts S201)' | grep -q 'data_quality:ast:-:open' && test '$elig' = incomplete"

# A sex-specific OBX-7 is read with the PID-8 of its message, and again so
# when a later feed (another process) re-reads the history from the rows:
# ALT 60 against the women's ULN 35 passes (< 2.5 x ULN); unread, it would
# leave the criterion without a verdict (incomplete).
q "insert into labwatch.patients (patient_id) values ('S202')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'screening', '2026-11-01' from labwatch.patients where patient_id = 'S202'"
# shellcheck disable=SC2046
oru S202 X1 20261120073000+0800 "1742-6|NM|60|U/L|M 10-50; F 10-35" $(echo "1920-8|NM|25|U/L|10-40" \
	"1975-2|NM|0.8|mg/dL|0.2-1.2" "2160-0|NM|0.9|mg/dL|0.6-1.2" "751-8|NM|3.2|10*9/L|1.8-7.5" \
	"777-3|NM|250|10*9/L|150-400") >"$TMP/sex1.hl7"
oru S202 X2 20261120083000+0800 "718-7|NM|13.5|g/dL|12.0-16.0" >"$TMP/sex2.hl7"
feed "$TMP/sex1.hl7" >/dev/null 2>&1
feed "$TMP/sex2.hl7" >/dev/null 2>&1
check "sex-specific OBX-7: the row keeps PID-8 F and ULN 35" \
	test "$(q "select o.patient_sex || ':' || o.uln from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'S202' and o.analyte = 'alt'")" = "F:35"
check "... and re-read from the rows it still reads: eligible" \
	test "$(q "select e.status from labwatch.eligibility e join labwatch.patients p on p.id = e.patient where p.patient_id = 'S202' order by e.id desc limit 1")" = eligible

# 5c. Alert episodes (CLINICAL.md, issue 11 item 4): Hb 75 -> 125 -> 75 g/L
#     is two episodes of grade 3 anemia: the first alert is resolved on the
#     125, with a recovery line, and the second 75 opens a new alert, whether
#     the first was acknowledged (T102, fed in three processes: the open
#     alerts re-read from the rows) or not (T103, one feed). It was one alert.
q "insert into labwatch.patients (patient_id) values ('T102'), ('T103')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id in ('T102', 'T103')"
oru T102 E1 20261120073000+0800 "718-7|NM|75|g/L|120-160" >"$TMP/ep1.hl7"
oru T102 E2 20261121073000+0800 "718-7|NM|125|g/L|120-160" >"$TMP/ep2.hl7"
oru T102 E3 20261122073000+0800 "718-7|NM|75|g/L|120-160" >"$TMP/ep3.hl7"
feed "$TMP/ep1.hl7" >/dev/null 2>&1
q "update labwatch.alerts a set state = 'acknowledged', acknowledged_by = 'dr', acknowledged_at = now() from labwatch.patients p where p.id = a.patient and p.patient_id = 'T102'"
feed "$TMP/ep2.hl7" >/dev/null 2>&1
feed "$TMP/ep3.hl7" >/dev/null 2>&1
{
	oru T103 F1 20261120073000+0800 "718-7|NM|75|g/L|120-160"
	oru T103 F2 20261121073000+0800 "718-7|NM|125|g/L|120-160"
	oru T103 F3 20261122073000+0800 "718-7|NM|75|g/L|120-160"
} >"$TMP/ep.hl7"
feed "$TMP/ep.hl7" >/dev/null 2>&1
for p in T102 T103; do
	check "$p: Hb 75 -> 125 -> 75: two toxicity alerts, the first resolved, a recovery line" \
		test "$(alerts $p)" = "toxicity:hgb:3:resolved recovery:hgb:0:open toxicity:hgb:3:open "
	check "$p: ... resolved on the 125 g/L result, not superseded" \
		test "$(q "select o.value || ':' || (a.superseded_by is null)::text || ':' || (a.resolved_at is not null)::text from labwatch.alerts a join labwatch.patients p on p.id = a.patient join labwatch.observations o on o.id = a.resolved_by_observation where p.patient_id = '$p' and a.kind = 'toxicity'")" = "125:true:true"
	check "$p: ... and the line says so" \
		test "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$p' and a.kind = 'recovery' and a.severity = 'info' and a.summary like 'Hb 125 g/L (LLN 120): recovered from CTCAE grade 3 (Anemia), now grade 0 - patient $p, NCT04933669; alert ' || (select min(t.id) from labwatch.alerts t where t.patient = a.patient and t.kind = 'toxicity') || ' resolved'")" -eq 1
done

# A late result (observed before the alert's own, fed after it, the open
# alert re-read from the rows) does not end the episode; a newer one does.
q "insert into labwatch.patients (patient_id) values ('T104')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = 'T104'"
oru T104 G1 20261122073000+0800 "718-7|NM|75|g/L|120-160" >"$TMP/late1.hl7"
oru T104 G2 20261120073000+0800 "718-7|NM|125|g/L|120-160" >"$TMP/late2.hl7"
oru T104 G3 20261123073000+0800 "718-7|NM|125|g/L|120-160" >"$TMP/late3.hl7"
feed "$TMP/late1.hl7" >/dev/null 2>&1
feed "$TMP/late2.hl7" >/dev/null 2>&1
check "T104: Hb 125 observed before the alert's 75: the episode goes on" \
	test "$(alerts T104)" = "toxicity:hgb:3:open "
feed "$TMP/late3.hl7" >/dev/null 2>&1
check "T104: ... a newer 125 ends it" \
	test "$(alerts T104)" = "toxicity:hgb:3:resolved recovery:hgb:0:open "

# A late 125 observed between the alert's 75 and a newer 74 (grade 3, no
# alert of its own): the newest Hb is still grade 3, the episode goes on
# (review: it was resolved, with a "recovered" line).
q "insert into labwatch.patients (patient_id) values ('T105')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = 'T105'"
{
	oru T105 H1 20261120073000+0800 "718-7|NM|75|g/L|120-160"
	oru T105 H2 20261122073000+0800 "718-7|NM|74|g/L|120-160"
	oru T105 H3 20261121073000+0800 "718-7|NM|125|g/L|120-160"
} >"$TMP/late4.hl7"
feed "$TMP/late4.hl7" >/dev/null 2>&1
check "T105: a late 125 between two grade-3 results ends nothing" \
	test "$(alerts T105)" = "toxicity:hgb:3:open "

# 5c2. Withdrawal of the result that ended an episode (CLINICAL.md "Alert
#      episodes": derived again from the results that stand). Hb 75 -> 125
#      -> the 125 deleted (D) or marked wrong (W): the alert is open again,
#      acknowledged if it was, no longer resolved on the 125, and the
#      recovery line is retracted (the alert stayed resolved: the danger
#      passed in silence); the next grade-3 result adds nothing, the next
#      125 ends it. A correction of the 125 to 78 reopens it and the 78
#      adds nothing (it opened a second alert); to 130 it ends it again on
#      the 130. A later 130 that stands keeps it ended, resting on the 130.
#      An escalated episode reopens its highest alert only; a withdrawal
#      after a new episode began, or of the alert's own result, reopens
#      nothing. Then a recovery of unknown time (OBX-14, OBR-7, MSH-7
#      empty) ends nothing (it ended the episode).
# hb PID CID DTM VALUE: one Hb result (control id W + CID); again CID
# ORDER_CID: its OBR placer and filler made ORDER_CID's (the same order: a
# C, D or W of that result).
again() { sed "s/|OW$1|FW$1|/|OW$2|FW$2|/"; }
enroll_t() {
	for p in "$@"; do
		q "insert into labwatch.patients (patient_id) values ('$p')"
		q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = '$p'"
	done
}
resolved_on() { # PID: the value each toxicity alert is resolved on, or -
	q "select string_agg(coalesce(o.value::text, '-'), ' ' order by a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient left join labwatch.observations o on o.id = a.resolved_by_observation where p.patient_id = '$1' and a.kind = 'toxicity'"
}
enroll_t W600 W601 W602 W603 W604 W605 W606 W607 W610
hb() { oru "$1" "W$2" "$3" "718-7|NM|$4|g/L|120-160"; }
# W600: each message in its own feed (the ended episode re-read from the
# rows), the alert acknowledged before the 125.
hb W600 K1 20261120073000+0800 75 >"$TMP/w1.hl7"
hb W600 K2 20261121073000+0800 125 >"$TMP/w2.hl7"
(ORU_STATUS=D && hb W600 K2D 20261121073000+0800 125 | again K2D K2) >"$TMP/w3.hl7"
hb W600 K4 20261122073000+0800 76 >"$TMP/w4.hl7"
hb W600 K5 20261123073000+0800 125 >"$TMP/w5.hl7"
feed "$TMP/w1.hl7" >/dev/null 2>&1
q "update labwatch.alerts a set state = 'acknowledged', acknowledged_by = 'dr', acknowledged_at = now() from labwatch.patients p where p.id = a.patient and p.patient_id = 'W600'"
feed "$TMP/w2.hl7" >/dev/null 2>&1
feed "$TMP/w3.hl7" >/dev/null 2>&1
check "W600: Hb 75 -> 125 -> the 125 deleted: the alert acknowledged again, the recovery retracted" \
	test "$(alerts W600)" = "toxicity:hgb:3:acknowledged recovery:hgb:0:retracted "
check "W600: ... resolved on nothing, at no time" \
	test "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'W600' and a.kind = 'toxicity' and a.resolved_by_observation is null and a.resolved_at is null and a.acknowledged_by = 'dr'")" -eq 1
feed "$TMP/w4.hl7" >/dev/null 2>&1
check "W600: ... Hb 76 next: the same episode, no new alert" \
	test "$(alerts W600)" = "toxicity:hgb:3:acknowledged recovery:hgb:0:retracted "
feed "$TMP/w5.hl7" >/dev/null 2>&1
check "W600: ... a new 125 ends it, on that result" \
	sh -c "test '$(alerts W600)' = 'toxicity:hgb:3:resolved recovery:hgb:0:retracted recovery:hgb:0:open ' && test '$(resolved_on W600)' = 125"
# W601: one feed; W (wrong) instead of D.
{
	hb W601 L1 20261120073000+0800 75
	hb W601 L2 20261121073000+0800 125
	(ORU_STATUS=W && hb W601 L2W 20261121073000+0800 125 | again L2W L2)
	hb W601 L4 20261122073000+0800 74
} >"$TMP/w601.hl7"
feed "$TMP/w601.hl7" >/dev/null 2>&1
check "W601: the 125 marked wrong (one feed): the alert open again, one alert, the recovery retracted" \
	sh -c "test '$(alerts W601)' = 'toxicity:hgb:3:open recovery:hgb:0:retracted ' && test '$(resolved_on W601)' = -"
# W602: a later 130 stands: the episode stays ended, now on the 130, with
# a recovery line on it.
hb W602 M1 20261120073000+0800 75 >"$TMP/w602a.hl7"
{
	hb W602 M2 20261121073000+0800 125
	hb W602 M3 20261122073000+0800 130
} >"$TMP/w602b.hl7"
(ORU_STATUS=D && hb W602 M2D 20261121073000+0800 125 | again M2D M2) >"$TMP/w602c.hl7"
feed "$TMP/w602a.hl7" >/dev/null 2>&1
feed "$TMP/w602b.hl7" >/dev/null 2>&1
feed "$TMP/w602c.hl7" >/dev/null 2>&1
check "W602: 75 -> 125 -> 130, the 125 deleted: still ended, on the 130, said in a new recovery line" \
	sh -c "test '$(alerts W602)' = 'toxicity:hgb:3:resolved recovery:hgb:0:retracted recovery:hgb:0:open ' && test '$(resolved_on W602)' = 130"
check "W602: ... the new line rests on the 130 and names the alert" \
	test "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient join labwatch.observations o on o.id = a.observation where p.patient_id = 'W602' and a.kind = 'recovery' and a.state = 'open' and o.value = 130 and a.summary like 'Hb 130 g/L%recovered from CTCAE grade 3%alert ' || (select min(t.id) from labwatch.alerts t where t.patient = a.patient and t.kind = 'toxicity') || ' resolved'")" -eq 1
# W603, W604: the 125 corrected (C) to 78, to 130.
for c in "W603 78" "W604 130"; do
	set -- $c
	hb "$1" "$1N1" 20261120073000+0800 75 >"$TMP/c1.hl7"
	hb "$1" "$1N2" 20261121073000+0800 125 >"$TMP/c2.hl7"
	(ORU_STATUS=C && hb "$1" "$1N2C" 20261121073000+0800 "$2" | again "$1N2C" "$1N2") >"$TMP/c3.hl7"
	feed "$TMP/c1.hl7" >/dev/null 2>&1
	feed "$TMP/c2.hl7" >/dev/null 2>&1
	feed "$TMP/c3.hl7" >/dev/null 2>&1
done
check "W603: the 125 corrected to 78: the episode open again on its alert, no second alert" \
	sh -c "test '$(alerts W603)' = 'toxicity:hgb:3:open recovery:hgb:0:retracted ' && test '$(resolved_on W603)' = -"
check "W604: the 125 corrected to 130: ended again, on the 130" \
	sh -c "test '$(alerts W604)' = 'toxicity:hgb:3:resolved recovery:hgb:0:retracted recovery:hgb:0:open ' && test '$(resolved_on W604)' = 130"
# W605: platelets 40 (grade 3) -> 20 (grade 4, escalates) -> 200 -> the 200
# deleted: the grade 4 alert open again, the grade 3 one stays superseded.
plt() { oru "$1" "W$2" "$3" "777-3|NM|$4|10*9/L|150-400"; }
{
	plt W605 P1 20261120073000+0800 40
	plt W605 P2 20261121073000+0800 20
	plt W605 P3 20261122073000+0800 200
} >"$TMP/w605a.hl7"
(ORU_STATUS=D && plt W605 P3D 20261122073000+0800 200 | again P3D P3) >"$TMP/w605b.hl7"
feed "$TMP/w605a.hl7" >/dev/null 2>&1
feed "$TMP/w605b.hl7" >/dev/null 2>&1
check "W605: an escalated episode: its grade 4 alert reopened, the grade 3 one still superseded" \
	test "$(alerts W605 | sed 's/hold:[^ ]* //')" = "toxicity:plt:3:resolved toxicity:plt:4:open recovery:plt:0:retracted "
# W606: the alert's own 75 deleted after the 125: no episode left to
# reopen when the 125 goes too (each in its own feed).
hb W606 Q1 20261120073000+0800 75 >"$TMP/w606a.hl7"
hb W606 Q2 20261121073000+0800 125 >"$TMP/w606b.hl7"
(ORU_STATUS=D && hb W606 Q1D 20261120073000+0800 75 | again Q1D Q1) >"$TMP/w606c.hl7"
(ORU_STATUS=D && hb W606 Q2D 20261121073000+0800 125 | again Q2D Q2) >"$TMP/w606d.hl7"
for f in a b c d; do feed "$TMP/w606$f.hl7" >/dev/null 2>&1; done
check "W606: the 75 deleted, then the 125: nothing reopened" \
	test "$(alerts W606)" = "toxicity:hgb:3:resolved recovery:hgb:0:retracted "
# W607: a new episode began after the 125 (Hb 74): deleting the 125
# reopens nothing (the new alert is the episode's), and adds no alert.
{
	hb W607 R1 20261120073000+0800 75
	hb W607 R2 20261121073000+0800 125
	hb W607 R3 20261122073000+0800 74
} >"$TMP/w607a.hl7"
(ORU_STATUS=D && hb W607 R2D 20261121073000+0800 125 | again R2D R2) >"$TMP/w607b.hl7"
feed "$TMP/w607a.hl7" >/dev/null 2>&1
feed "$TMP/w607b.hl7" >/dev/null 2>&1
check "W607: the 125 deleted after a new episode began: one alert open, none added" \
	test "$(alerts W607)" = "toxicity:hgb:3:resolved recovery:hgb:0:retracted toxicity:hgb:3:open "
# W610: Hb 125 with no time anywhere cannot be placed after the 75.
hb W610 S1 20261120073000+0800 75 >"$TMP/w610a.hl7"
hb W610 S2 "" 125 >"$TMP/w610b.hl7"
feed "$TMP/w610a.hl7" >/dev/null 2>&1
feed "$TMP/w610b.hl7" >/dev/null 2>&1
check "W610: a 125 of unknown time (OBX-14, OBR-7, MSH-7 empty) ends nothing" \
	sh -c "test '$(alerts W610)' = 'toxicity:hgb:3:open ' && test '$(q "select count(*) from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'W610' and o.observed_at is null")' -eq 1"
# W650, W651: Hb 75 -> 125 -> 74, then the 74 deleted and the 125
# deleted: the 75 stands alone, grade 3: its alert open again (the first
# episode was forgotten once the 74 opened a second: nothing was open).
# W650 each in its own feed, W651 in one.
enroll_t W650 W651 W652 W653 W654
hb W650 Y1 20261120073000+0800 75 >"$TMP/w650a.hl7"
hb W650 Y2 20261121073000+0800 125 >"$TMP/w650b.hl7"
hb W650 Y3 20261122073000+0800 74 >"$TMP/w650c.hl7"
(ORU_STATUS=D && hb W650 Y3D 20261122073000+0800 74 | again Y3D Y3) >"$TMP/w650d.hl7"
(ORU_STATUS=D && hb W650 Y2D 20261121073000+0800 125 | again Y2D Y2) >"$TMP/w650e.hl7"
for f in a b c d e; do feed "$TMP/w650$f.hl7" >/dev/null 2>&1; done
sed 's/W650/W651/g; s/WY/WZ/g; s/|OY/|OZ/g; s/|FY/|FZ/g' "$TMP"/w650[a-e].hl7 >"$TMP/w651.hl7"
feed "$TMP/w651.hl7" >/dev/null 2>&1
for p in W650 W651; do
	check "$p: Hb 75 -> 125 -> 74, the 74 then the 125 deleted: the first alert open again" \
		sh -c "test '$(alerts $p)' = 'toxicity:hgb:3:open recovery:hgb:0:retracted toxicity:hgb:3:retracted ' && test '$(resolved_on $p)' = '- -'"
done
# W652: platelets 40 -> 20 (escalates to grade 4) -> the 20 deleted: the
# grade-3 alert, superseded, is open again (grade 3 stands).
{
	plt W652 YP1 20261120073000+0800 40
	plt W652 YP2 20261121073000+0800 20
} >"$TMP/w652a.hl7"
(ORU_STATUS=D && plt W652 YP2D 20261121073000+0800 20 | again YP2D YP2) >"$TMP/w652b.hl7"
feed "$TMP/w652a.hl7" >/dev/null 2>&1
feed "$TMP/w652b.hl7" >/dev/null 2>&1
check "W652: platelets 40 -> 20 -> the 20 deleted: the grade-3 alert open again" \
	test "$(alerts W652 | sed 's/hold:[^ ]* //g; s/resume:[^ ]* //g')" = "toxicity:plt:3:open toxicity:plt:4:retracted "
# W653: Hb 75 -> 125 -> 130, the 125 corrected to 60: one episode that
# ended at the 130; the 60 opens no alert.
for f in 1:75 2:125 3:130; do
	hb W653 "YC${f%%:*}" "2026112${f%%:*}073000+0800" "${f#*:}" >"$TMP/w653${f%%:*}.hl7"
done
(ORU_STATUS=C && hb W653 YC2C 20261122073000+0800 60 | again YC2C YC2) >"$TMP/w6534.hl7"
for f in 1 2 3 4; do feed "$TMP/w653$f.hl7" >/dev/null 2>&1; done
check "W653: 75 -> 125 -> 130, the 125 corrected to 60: no new alert, ended on the 130" \
	sh -c "test '$(alerts W653)' = 'toxicity:hgb:3:resolved recovery:hgb:0:retracted recovery:hgb:0:open ' && test '$(resolved_on W653)' = 130"
# W654: an alert on a Hb 75 of unknown time (OBX-14, OBR-7, MSH-7 empty)
# is ended by a timed 125; the next timed 75 opens a second episode.
hb W654 YT1 "" 75 >"$TMP/w654a.hl7"
hb W654 YT2 20261121073000+0800 125 >"$TMP/w654b.hl7"
hb W654 YT3 20261122073000+0800 75 >"$TMP/w654c.hl7"
for f in a b c; do feed "$TMP/w654$f.hl7" >/dev/null 2>&1; done
check "W654: an alert of unknown time ended by a timed 125; the next 75 a new alert" \
	test "$(alerts W654)" = "toxicity:hgb:3:resolved recovery:hgb:0:open toxicity:hgb:3:open "
# W655, W656: rows written before the control-byte change (the byte
# dropped): ALT 210 with OBX-7 '10-<0x01>40' stored as '10-40', ANC 0.8 in
# '10*9/<0x01>L' stored as '10*9/L'. The live path called them unreadable
# (range_unreadable, unit_unknown); re-read from their rows by the next
# feed they must stay so (no hold on ALT 5.25 x ULN or ANC grade 3).
enroll_t W655 W656
oru W655 YR1 20261120073000+0800 "1742-6|NM|210|U/L|$(printf '10-\001')40" >"$TMP/w655a.hl7"
hb W655 YR2 20261121073000+0800 130 >"$TMP/w655b.hl7"
oru W656 YU1 20261120073000+0800 "751-8|NM|0.8|$(printf '10*9/\001')L|1.8-7.5" >"$TMP/w656a.hl7"
hb W656 YU2 20261121073000+0800 130 >"$TMP/w656b.hl7"
feed "$TMP/w655a.hl7" >/dev/null 2>&1
feed "$TMP/w656a.hl7" >/dev/null 2>&1
q "update labwatch.observations o set ref_range = '10-40' from labwatch.patients p where p.id = o.patient and p.patient_id = 'W655' and o.analyte = 'alt'"
q "update labwatch.observations o set unit = '10*9/L' from labwatch.patients p where p.id = o.patient and p.patient_id = 'W656' and o.analyte = 'anc'"
feed "$TMP/w655b.hl7" >/dev/null 2>&1
feed "$TMP/w656b.hl7" >/dev/null 2>&1
check "W655: a range_unreadable row stored as '10-40' by the old code: still unreadable on reload, no hold" \
	test "$(alerts W655)" = "data_quality:alt:-:open "
check "W656: a unit_unknown row stored as '10*9/L' by the old code: still unknown on reload, no hold" \
	test "$(alerts W656)" = "data_quality:anc:-:open "
# W657: Hb 75 -> 125 -> 130 in treatment, the enrollment back in
# screening, then the 125 deleted: the alert rests on the 130, but no
# recovery line (screening: eligibility speaks, as for a new result).
enroll_t W657
hb W657 YS1 20261120073000+0800 75 >"$TMP/w657a.hl7"
{
	hb W657 YS2 20261121073000+0800 125
	hb W657 YS3 20261122073000+0800 130
} >"$TMP/w657b.hl7"
(ORU_STATUS=D && hb W657 YS2D 20261121073000+0800 125 | again YS2D YS2) >"$TMP/w657c.hl7"
feed "$TMP/w657a.hl7" >/dev/null 2>&1
feed "$TMP/w657b.hl7" >/dev/null 2>&1
q "update labwatch.enrollments e set phase = 'screening' from labwatch.patients p where p.id = e.patient and p.patient_id = 'W657'"
feed "$TMP/w657c.hl7" >/dev/null 2>&1
check "W657: in screening, the 125 deleted: resolved on the 130, no new recovery line" \
	sh -c "test '$(alerts W657 | sed 's/eligibility:[^ ]* //g')' = 'toxicity:hgb:3:resolved recovery:hgb:0:retracted ' && test '$(resolved_on W657)' = 130"
# W620: screening, a newer ALT with an empty OBX-11 at 200 U/L (a fail
# were it final): eligible on the older final ALT, and a data_quality
# alert for it (CLINICAL.md "Result status").
q "insert into labwatch.patients (patient_id) values ('W620')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'screening', '2026-11-01' from labwatch.patients where patient_id = 'W620'"
# shellcheck disable=SC2046
oru W620 WU1 20261120073000+0800 $(echo "1920-8|NM|25|U/L|10-40" "1742-6|NM|30|U/L|10-40" \
	"1975-2|NM|0.8|mg/dL|0.2-1.2" "2160-0|NM|0.9|mg/dL|0.6-1.2" "751-8|NM|3.2|10*9/L|1.8-7.5" \
	"777-3|NM|250|10*9/L|150-400" "718-7|NM|13.5|g/dL|12.0-16.0") >"$TMP/w620a.hl7"
(ORU_STATUS= && oru W620 WU2 20261120083000+0800 "1742-6|NM|200|U/L|10-40") >"$TMP/w620b.hl7"
feed "$TMP/w620a.hl7" >/dev/null 2>&1
feed "$TMP/w620b.hl7" >/dev/null 2>&1
check "W620: a newer ALT of empty OBX-11: still eligible, on the final ALT; a data_quality alert" \
	sh -c "test '$(q "select e.status from labwatch.eligibility e join labwatch.patients p on p.id = e.patient where p.patient_id = 'W620' order by e.id desc limit 1")' = eligible && test '$(alerts W620)' = 'eligibility:-:-:open data_quality:alt:-:open '"
# W630: OBX-7 with a control byte inside ("10-" 0x01 "40") is unreadable
# live: a data_quality alert, no grade, no hold. Re-read from its row by
# the next feed it must read the same: the row dropped the byte, read
# "10-40", graded ALT 210 at 5.25 x ULN and held the patient on the next
# result (a normal Hb).
enroll_t W630
oru W630 WV1 20261120073000+0800 "1742-6|NM|210|U/L|$(printf '10-\001')40" >"$TMP/w630a.hl7"
hb W630 V2 20261121073000+0800 130 >"$TMP/w630b.hl7"
feed "$TMP/w630a.hl7" >/dev/null 2>&1
check "W630: OBX-7 '10-<0x01>40': range_unreadable, a data_quality alert, no hold" \
	test "$(alerts W630)" = "data_quality:alt:-:open "
feed "$TMP/w630b.hl7" >/dev/null 2>&1
check "W630: ... the same when the next feed re-reads it from its row: no hold" \
	test "$(alerts W630)" = "data_quality:alt:-:open "
check "W630: ... the row keeps a mark where the byte was" \
	test "$(q "select o.ref_range = '10-' || U&'\FFFD' || '40' from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'W630' and o.analyte = 'alt'")" = t
# W640: an order number with a control byte (OBR-2/3 "OW<0x01>X1"): a D
# of its result, fed after the history is re-read from the rows, finds it
# (the row's key dropped the byte, the live key kept it: the alert stayed).
enroll_t W640
hb W640 X1 20261120073000+0800 75 | again X1 "$(printf '\001')X1" >"$TMP/w640a.hl7"
(ORU_STATUS=D && hb W640 X1D 20261120073000+0800 75 | again X1D "$(printf '\001')X1") >"$TMP/w640b.hl7"
feed "$TMP/w640a.hl7" >/dev/null 2>&1
feed "$TMP/w640b.hl7" >/dev/null 2>&1
check "W640: a D of a result whose order number holds a control byte, after a reload: its alert retracted" \
	test "$(alerts W640)" = "toxicity:hgb:3:retracted "

# 5d. Nothing skipped in silence (issue 11 items 2 and 3). OBX-3 with ALT's
#     LOINC and AST's in the alternate triplet: stored with no analyte and
#     problem code_conflict, a data_quality alert naming both (it was
#     ACKed, not stored, not alerted); in screening it is the latest ALT and
#     AST, so the patient is incomplete, also when a later feed re-reads the
#     history from the rows. An empty or unknown OBX-11: status_unknown and
#     a data_quality alert (there was none).
q "insert into labwatch.patients (patient_id) values ('T113'), ('S213')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id = 'T113'"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'screening', '2026-11-01' from labwatch.patients where patient_id = 'S213'"
{
	oru T113 V1 20261120073000+0800 "1742-6^ALT^LN^1920-8|NM|30|U/L|10-40"
	(ORU_STATUS= && oru T113 V2 20261120083000+0800 "777-3|NM|250|10*9/L|150-400")
	(ORU_STATUS=Z && oru T113 V3 20261120093000+0800 "751-8|NM|3.2|10*9/L|1.8-7.5")
} >"$TMP/silent_t.hl7"
# shellcheck disable=SC2046
oru S213 Y1 20261120073000+0800 $(echo "1920-8|NM|25|U/L|10-40" "1742-6|NM|30|U/L|10-40" \
	"1975-2|NM|0.8|mg/dL|0.2-1.2" "2160-0|NM|0.9|mg/dL|0.6-1.2" "751-8|NM|3.2|10*9/L|1.8-7.5" \
	"777-3|NM|250|10*9/L|150-400" "718-7|NM|13.5|g/dL|12.0-16.0") >"$TMP/silent_s1.hl7"
oru S213 Y2 20261120083000+0800 "1742-6^ALT^LN^1920-8|NM|30|U/L|10-40" >"$TMP/silent_s2.hl7"
oru S213 Y3 20261120093000+0800 "718-7|NM|13.4|g/dL|12.0-16.0" >"$TMP/silent_s3.hl7"
feed "$TMP/silent_t.hl7" >/dev/null 2>&1
check "code conflict: stored, no analyte, problem code_conflict, no grade" \
	test "$(q "select coalesce(o.analyte, '-') || ':' || o.code || ':' || o.alt_code || ':' || coalesce(o.grade::text, '-') || ':' || o.problem from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'T113' and o.code = '1742-6'")" = "-:1742-6:1920-8:-:code_conflict"
check "... a data_quality alert on that observation, naming ALT and AST" \
	test "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient join labwatch.observations o on o.id = a.observation where p.patient_id = 'T113' and a.kind = 'data_quality' and o.problem = 'code_conflict' and a.summary like '%code_conflict%' and a.summary like '%ALT%' and a.summary like '%AST%' and a.details->>'problem' = 'code_conflict'")" -eq 1
check "OBX-11 empty and Z: stored status_unknown, not graded" \
	test "$(q "select string_agg(o.analyte || ':' || coalesce(o.grade::text, '-') || ':' || o.problem, ' ' order by o.id) from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'T113' and o.analyte is not null")" = "plt:-:status_unknown anc:-:status_unknown"
check "... each a data_quality alert" \
	sh -c "echo '$(alerts T113)' | grep -q 'data_quality:plt:-:open data_quality:anc:-:open'"
feed "$TMP/silent_s1.hl7" >/dev/null 2>&1
feed "$TMP/silent_s2.hl7" >/dev/null 2>&1
elig_s213() { q "select e.status from labwatch.eligibility e join labwatch.patients p on p.id = e.patient where p.patient_id = 'S213' order by e.id desc limit 1"; }
check "screening: a conflict newer than passing ALT and AST: incomplete, with a data_quality alert" \
	sh -c "test '$(elig_s213)' = incomplete && echo '$(alerts S213)' | grep -q 'data_quality:-:-:open'"
feed "$TMP/silent_s3.hl7" >/dev/null 2>&1
check "... still incomplete when the history is re-read from the rows" test "$(elig_s213)" = incomplete
check "... the criteria rest on the conflict: ALT and AST no_result" \
	test "$(q "select string_agg(c->>'analyte', ',' order by c->>'analyte') from labwatch.eligibility e join labwatch.patients p on p.id = e.patient, jsonb_array_elements(e.criteria) c where p.patient_id = 'S213' and e.id = (select max(e2.id) from labwatch.eligibility e2 where e2.patient = p.id) and c->>'verdict' is distinct from 'pass'")" = "alt,ast"

# 5e. Comparators that leave the grade open (CLINICAL.md, issue 11 item 5).
#     Platelets <75 x 10^9/L is grade 2 at least, grades 3-4 not excluded:
#     the row says grade_is_minimum, and a 'warning' toxicity alert at grade
#     2 opens an episode (there was no alert at all). A second <75 adds
#     nothing; an exact 40 (grade 3) escalates it (critical); 200 ends the
#     episode with a recovery line. Each step is its own feed: the open
#     alerts are re-read from the rows. T301: AST >150 with ULN 40 (grade 2
#     at least) warns the same; platelets <40 (grade 3 at least) is an
#     ordinary critical alert whose line says "or worse". M302: <75 then an
#     exact 60 (grade 2) ends the episode: grades 3-4 are ruled out.
q "insert into labwatch.patients (patient_id) values ('M300'), ('M301'), ('M302')"
q "insert into labwatch.enrollments (patient, protocol, phase, since) select id, 'NCT04933669', 'neoadjuvant', '2026-11-01' from labwatch.patients where patient_id in ('M300', 'M301', 'M302')"
oru M300 K1 20261120073000+0800 "777-3|ST|<75|10*9/L|150-400" >"$TMP/min1.hl7"
oru M300 K2 20261121073000+0800 "777-3|ST|<75|10*9/L|150-400" >"$TMP/min2.hl7"
oru M300 K3 20261122073000+0800 "777-3|NM|40|10*9/L|150-400" >"$TMP/min3.hl7"
oru M300 K4 20261123073000+0800 "777-3|NM|200|10*9/L|150-400" >"$TMP/min4.hl7"
tox_m() { q "select a.kind || ':' || a.analyte || ':' || a.grade || ':' || a.severity || ':' || a.state from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$1' and a.kind in ('toxicity', 'recovery') order by a.id" | tr '\n' ' '; }
feed "$TMP/min1.hl7" >/dev/null 2>&1
check "M300: platelets <75: the row is grade 2, grade_is_minimum" \
	test "$(q "select o.grade || ':' || o.grade_is_minimum from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'M300'")" = "2:true"
check "M300: ... a warning toxicity alert at grade 2" test "$(tox_m M300)" = "toxicity:plt:2:warning:open "
check "M300: ... whose line says grade 3-4 are not excluded" \
	test "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'M300' and a.summary = 'Platelets <75 10^9/L (LLN 150): CTCAE grade 2 or worse; grade 3-4 not excluded (Platelet count decreased) - patient M300, NCT04933669' and (a.details->>'grade_is_minimum')::boolean and a.details->>'grade_max' = '4'")" -eq 1
feed "$TMP/min2.hl7" >/dev/null 2>&1
check "M300: a second <75 adds nothing" test "$(tox_m M300)" = "toxicity:plt:2:warning:open "
feed "$TMP/min3.hl7" >/dev/null 2>&1
check "M300: platelets 40 (exact grade 3) escalates: critical, superseding the warning" \
	test "$(tox_m M300)" = "toxicity:plt:2:warning:resolved toxicity:plt:3:critical:open "
check "M300: ... the warning superseded by it" \
	test "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient join labwatch.alerts b on b.id = a.superseded_by where p.patient_id = 'M300' and a.grade = 2 and b.grade = 3 and b.summary like '%grade 3 (Platelet count decreased), up from grade 2 or worse -%'")" -eq 1
check "M300: ... an exact 40 is not a minimum" \
	test "$(q "select string_agg(o.grade || ':' || o.grade_is_minimum, ' ' order by o.id) from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'M300'")" = "2:true 2:true 3:false"
feed "$TMP/min4.hl7" >/dev/null 2>&1
check "M300: platelets 200 ends the episode with a recovery line" \
	test "$(tox_m M300)" = "toxicity:plt:2:warning:resolved toxicity:plt:3:critical:resolved recovery:plt:0:info:open "
{
	oru M301 L1 20261120073000+0800 "1920-8|ST|>150|U/L|10-40" "777-3|ST|<40|10*9/L|150-400" \
		"1742-6|NM|30|U/L|10-40"
} >"$TMP/min5.hl7"
feed "$TMP/min5.hl7" >/dev/null 2>&1
check "M301: AST >150 (ULN 40) warns at grade 2; platelets <40 is critical at grade 3" \
	test "$(tox_m M301)" = "toxicity:ast:2:warning:open toxicity:plt:3:critical:open "
check "M301: ... each line says what is not excluded" \
	test "$(q "select string_agg(a.analyte || ':' || (a.summary like '%CTCAE grade ' || a.grade || ' or worse; grade ' || (a.details->>'grade_max') || ' not excluded%' or a.summary like '%CTCAE grade ' || a.grade || ' or worse; grade ' || (a.grade + 1) || '-4 not excluded%')::text, ' ' order by a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'M301' and a.kind = 'toxicity'")" = "ast:true plt:true"
oru M302 N1 20261120073000+0800 "777-3|ST|<75|10*9/L|150-400" >"$TMP/min6.hl7"
oru M302 N2 20261121073000+0800 "777-3|NM|60|10*9/L|150-400" >>"$TMP/min6.hl7"
feed "$TMP/min6.hl7" >/dev/null 2>&1
check "M302: platelets <75 then 60 (exact grade 2): the episode ends, grades 3-4 ruled out" \
	test "$(tox_m M302)" = "toxicity:plt:2:warning:resolved recovery:plt:2:info:open "
check "M302: ... and the line says so, not 'recovered from grade 2'" \
	test "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'M302' and a.kind = 'recovery' and a.summary like 'Platelets 60 10^9/L (LLN 150): CTCAE grade 3 or worse ruled out (Platelet count decreased), now grade 2 - patient M302, NCT04933669; alert % resolved'")" -eq 1
check "M301: a bound stays a bound: 'AST >150 U/L > 3.75 x ULN (40)', never '= 3.75'" \
	test "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'M301' and a.analyte = 'ast' and a.summary like 'AST >150 U/L > 3.75 x ULN (40): CTCAE grade 2 or worse%'")" -eq 1
check "M301: ... the rows: minimums, and an exact ALT that is not" \
	test "$(q "select string_agg(o.analyte || ':' || o.grade || ':' || o.grade_is_minimum, ' ' order by o.id) from labwatch.observations o join labwatch.patients p on p.id = o.patient where p.patient_id = 'M301'")" = "ast:2:true plt:3:true alt:0:false"

# 5b. More patients than the writer's first cache table holds (a rehash
#     while queries in flight point at its entries: a use-after-free once).
"$top_builddir/bench/gen_oru" -n 1500 -s 13 -f raw >"$TMP/g1500.raw" 2>/dev/null
feed --batch 256 "$TMP/g1500.raw" >"$TMP/5b.json" 2>/dev/null
check "1500 messages, ~1000 patients, one feed" json_assert "$TMP/5b.json" \
	'len(L) == 1500 and all(m["outcome"] == "processed" for m in L)'

# 5b. The store refuses to start without a logger: what it cannot answer
#     to a peer would be lost (issue 9: labwatchd never set one).
feed --no-logger "$top_srcdir/tests/data/oru_cbc_lf.hl7" >/dev/null 2>"$TMP/5b.err"
check "no logger: exit 2" test $? -eq 2
check "no logger: the store says why" grep -q 'needs a logger' "$TMP/5b.err"

# 6. PostgreSQL down: frames spooled (fsync) and ACKed; drained when it returns.
"$top_builddir/bench/gen_oru" -n 40 -s 11 -f raw >"$TMP/g40.raw" 2>/dev/null
before=$(q "select count(*) from labwatch.messages")
pg_stop "$PGD" >/dev/null
feed "$TMP/g40.raw" >"$TMP/6.json" 2>/dev/null
check "database down: all spooled and ACKed" json_assert "$TMP/6.json" \
	'len(L) == 40 and all(m["outcome"] == "spooled" and m["ack_code"] in ("AA", "CA") for m in L)'
pg_start "$PGD" >/dev/null
feed --wait-drain 20 >/dev/null 2>"$TMP/6.err"
check "drain exits 0" test $? -eq 0
check "after the drain: 40 new messages, each once" \
	test "$(q "select count(*) from labwatch.messages")" -eq $((before + 40))
check "spooled messages marked" test "$(q "select count(*) from labwatch.messages where spool_ref is not null")" -eq 40

# 6b. Frames that arrive while the spool still holds frames go behind
#     them in the spool (order kept), ACKed as themselves, and are written
#     by the drain (once, the drain overwrote them: they were ACKed as
#     duplicates of spooled frames and lost).
"$top_builddir/bench/gen_oru" -n 5 -s 14 -f raw >"$TMP/g5a.raw" 2>/dev/null
"$top_builddir/bench/gen_oru" -n 3 -s 15 -f raw >"$TMP/g3b.raw" 2>/dev/null
before=$(q "select count(*) from labwatch.messages")
pg_stop "$PGD" >/dev/null
feed "$TMP/g5a.raw" >/dev/null 2>&1
pg_start "$PGD" >/dev/null
feed "$TMP/g3b.raw" >"$TMP/6b.json" 2>/dev/null
check "live frames after an outage: processed, not taken for spooled ones" json_assert "$TMP/6b.json" \
	'len(L) == 3 and all(m["outcome"] in ("processed", "spooled") for m in L) and all(m["control_id"] in m["ack"] for m in L)'
feed --wait-drain 20 >/dev/null 2>&1
check "live frames after an outage: spooled and live all stored" \
	test "$(q "select count(*) from labwatch.messages")" -eq $((before + 8))

# 7. kill -9 during a drain: the next drain adds what is missing, nothing twice.
"$top_builddir/bench/gen_oru" -n 400 -s 12 -f raw >"$TMP/g400.raw" 2>/dev/null
before=$(q "select count(*) from labwatch.messages")
pg_stop "$PGD" >/dev/null
feed "$TMP/g400.raw" >/dev/null 2>&1
pg_start "$PGD" >/dev/null
feed --batch 8 --wait-drain 30 >/dev/null 2>&1 &
drainer=$!
# Kill it once part of the spool is committed.
i=0
while [ $i -lt 200 ] && [ "$(q "select count(*) from labwatch.messages")" -le "$before" ]; do
	sleep 0.05
	i=$((i + 1))
done
kill -9 $drainer 2>/dev/null
wait $drainer 2>/dev/null
mid=$(q "select count(*) from labwatch.messages")
feed --wait-drain 30 >/dev/null 2>&1
check "kill -9 mid-drain: all 400 stored exactly once" \
	test "$(q "select count(*) from labwatch.messages")" -eq $((before + 400))
check "no control id twice" test "$(q "select count(*) from (select control_id from labwatch.messages where outcome <> 'quarantined' group by sending_application, sending_facility, control_id having count(*) > 1) d")" -eq 0
echo "drain interrupted after $((mid - before)) of 400"

# 8. A failure at COMMIT (here a deferred trigger an administrator added)
#    for a batch written in one statement (a known patient, one frame per
#    batch): not ACKed as accepted, and the frames around it stored.
#    The trigger quotes the row in its words, with the SQLSTATE of a
#    check constraint: none of it reaches the log (db_scrub).
q "create function labwatch.refuse_commitfail() returns trigger language plpgsql as \$\$ begin if new.control_id = 'COMMITFAIL' then raise exception 'refused at commit: % from %', new.control_id, new.sending_facility using errcode = 'check_violation'; end if; return new; end \$\$"
q "create constraint trigger refuse_commitfail after insert on labwatch.messages deferrable initially deferred for each row execute function labwatch.refuse_commitfail()"
{
	oru C300 CF1 20261120073000 "1742-6|NM|30|U/L|10-40"
	oru C400 CF2 20261120073000 "1742-6|NM|31|U/L|10-40"
	oru C300 COMMITFAIL 20261121073000 "1742-6|NM|32|U/L|10-40"
	oru C400 CF3 20261121073000 "1742-6|NM|33|U/L|10-40"
} >"$TMP/commitfail.hl7"
feed --batch 1 "$TMP/commitfail.hl7" >"$TMP/8.json" 2>"$TMP/8.err"
check "failed at COMMIT: refused in the log, the trigger's words (and the row's values) not" \
	sh -c 'grep -q "SQLSTATE 23514" "$1" && ! grep -q "COMMITFAIL\|refused at commit" "$1"' - "$TMP/8.err"
check "failed at COMMIT: not ACKed as accepted" json_assert "$TMP/8.json" \
	'len(L) == 4 and L[2]["ack_code"] not in ("AA", "CA") and all(L[i]["ack_code"] == "AA" for i in (0, 1, 3))'
check "failed at COMMIT: the frames around it stored, it not" \
	test "$(q "select string_agg(control_id, ',' order by control_id) from labwatch.messages where control_id in ('CF1', 'CF2', 'CF3', 'COMMITFAIL')")" = "CF1,CF2,CF3"
q "drop trigger refuse_commitfail on labwatch.messages"

# 9. Many observations in one message: stored whole below max_observations
#    (in INSERTs of a bounded size: one was quadratic in its rows), above
#    it answered AE and quarantined with the reason, without its rows;
#    one frame per batch, so that OBX200 (known patient) goes in one
#    statement.
big() { # PID CONTROL_ID N: an ORU^R01 with N protocol OBX (ALT, AST, PLT)
	$PY - "$@" <<'EOF2'
import sys
pid, cid, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
obx = [("1742-6", "U/L", "10-40", "31"), ("1920-8", "U/L", "10-40", "28"), ("777-3", "10*9/L", "150-400", "251")]
seg = [f"MSH|^~\\&|LIS|MAINLAB|LABWATCH|HOSP|20261122073000||ORU^R01^ORU_R01|{cid}|P|2.5.1",
       f"PID|1||{pid}^^^HOSP^MR", f"OBR|1|O{cid}|F{cid}|24323-8^CMP^LN|||20261122073000"]
for k in range(n):
    code, unit, rng, val = obx[k % 3]
    seg.append(f"OBX|{k + 1}|NM|{code}^X^LN|{k}|{val}|{unit}|{rng}||||F|||20261122073000")
sys.stdout.write("\r".join(seg) + "\r")
EOF2
}
rows_of() { q "select count(*) from labwatch.observations o join labwatch.messages m on m.id = o.message where m.control_id = '$1'"; }
{ big M900 OBXDEF 10001; big M900 OBX10K 10000; } >"$TMP/cap-default.hl7"
feed "$TMP/cap-default.hl7" >"$TMP/9a.json" 2>/dev/null
check "default cap (10,000 OBX): 10,001 answered AE with ERR and the reason" json_assert "$TMP/9a.json" \
	'L[0]["outcome"] == "quarantined" and L[0]["ack_code"] == "AE" and "ERR" in L[0]["ack"] and "max_observations" in L[0]["ack"]'
check "default cap: 10,000 stored, every row" sh -c "[ '$(rows_of OBX10K)' -eq 10000 ]"
{ big M901 OBXOVER 20001; big M901 OBX20K 20000; big M901 OBX300 300; big M901 OBX200 200; big T100 OBXT500 500; } >"$TMP/cap.hl7"
feed --batch 1 --max-observations 20000 "$TMP/cap.hl7" >"$TMP/9b.json" 2>/dev/null
check "raised cap (20,000): 20,001 OBX answered AE" json_assert "$TMP/9b.json" \
	'L[0]["outcome"] == "quarantined" and L[0]["ack_code"] == "AE" and "ERR" in L[0]["ack"]'
check "over the cap: quarantined with the reason and its bytes, no observation rows" \
	sh -c "[ '$(q "select count(*) from labwatch.messages where control_id = 'OBXOVER' and outcome = 'quarantined' and reason like '%max_observations%' and length(raw) > 1000000")' -eq 1 ] && [ '$(rows_of OBXOVER)' -eq 0 ]"
check "raised cap: 20,000, 300, 200 OBX (new and known patient) and 500 (enrolled) processed" json_assert "$TMP/9b.json" \
	'[m["outcome"] for m in L[1:]] == ["processed"] * 4 and all(m["ack_code"] == "AA" for m in L[1:])'
check "20,000 OBX: every row stored" sh -c "[ '$(rows_of OBX20K)' -eq 20000 ]"
check "300, 200 and 500 OBX: every row stored" \
	sh -c "[ '$(rows_of OBX300)' -eq 300 ] && [ '$(rows_of OBX200)' -eq 200 ] && [ '$(rows_of OBXT500)' -eq 500 ]"
check "20,000 OBX: each observation once (set ids 1..20000)" \
	sh -c "[ '$(q "select count(distinct set_id) from labwatch.observations o join labwatch.messages m on m.id = o.message where m.control_id = 'OBX20K'")' -eq 20000 ]"
check_observation_links

done_testing
