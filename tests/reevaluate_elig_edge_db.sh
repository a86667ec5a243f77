#!/bin/sh
# labwatch reevaluate judges a screening patient's data_quality alerts on
# the messages labwatchd judged only (review of reeval-elig): a result
# stored before the patient was enrolled was never tracked by labwatchd
# (no data_quality alert, no verdict row), and reevaluate must not write
# one for it, under the protocol labwatchd ran (nothing changes) nor
# under one that makes it a problem (ALT's default range taken out), while
# the same result on a message judged gets its alert. Before the fix
# reevaluate wrote "new data_quality XP plt" under the shipped protocol.
# And the words of a data_quality alert reevaluate writes are those
# labwatchd writes for the same OBX under the same rules data (XU against
# labwatchd's XV; XR's unit and OBX-7, which the history read marks,
# written again after a hand retraction).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/reevaluate_lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite reevalx
PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
mkdir -p "$TMP/data/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/data/"
sed -e '/^alt = 0 40/d' "$PROTO" >"$TMP/data/protocols/noalt.conf"
# A catalog without AST in µkat/L (and its protocol beside it): an AST
# sent so is then unit_unknown.
mkdir -p "$TMP/nounit/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/nounit/"
cp "$PROTO" "$TMP/nounit/protocols/"
sed '/^\[analyte ast\]/,/^\[/{/^unit = µkat\/L 60$/d}' "$top_srcdir/rules/data/analytes.conf" >"$TMP/nounit/analytes.conf"
check "noalt.conf: ALT's default range taken out" eq \
	"$(diff "$PROTO" "$TMP/data/protocols/noalt.conf" | grep -c '^<')" 1
check "nounit: AST's µkat/L taken out" eq \
	"$(diff "$top_srcdir/rules/data/analytes.conf" "$TMP/nounit/analytes.conf" | grep -c '^<') $(grep -c 'µkat/L' "$TMP/nounit/analytes.conf")" "1 $(($(grep -c 'µkat/L' "$top_srcdir/rules/data/analytes.conf") - 1))"
others='1920-8|NM|25|U/L|10-40 1975-2|NM|0.8|mg/dL|0.2-1.2 2160-0|NM|0.9|mg/dL|0.6-1.2 751-8|NM|3.2|10*9/L|1.8-7.5 718-7|NM|13.5|g/dL|12.0-16.0'

lwd_db_conf "$TMP/d.conf"
lwd_start d "$TMP/d.conf"
send() { "$LW" replay --host 127.0.0.1 --port "$port" --timeout 10 "$1" >>"$TMP/replay.out" 2>&1; }
# The table, per patient: its messages before enrollment, then after it
# (CONTROL:DAY:OBX,... with OBX "plt?" platelets 200 without OBX-11,
# "alt-" ALT 30 U/L without OBX-7, "panel" the five others normal and
# platelets 200): XP before and after; XQ after only (the control).
hl7() { # PATIENT CONTROL DAY ITEMS
	set -- "$1" "$2" "202611${3}090000+0000" "$4" "$(echo "$4" | tr , ' ')"
	obx=""
	for it in $5; do
		case $it in
		plt\?) obx="$obx 777-3|NM|200|10*9/L|150-400|" ;;
		alt-) obx="$obx 1742-6|NM|30|U/L|" ;;
		panel) obx="$obx 777-3|NM|200|10*9/L|150-400 $others" ;;
		astk) obx="$obx 1920-8|NM|0.5|µkat/L|0.1-0.6" ;;
		astmg) obx="$obx 1920-8|NM|30|mg/L|10-40" ;;
		altnote) obx="$obx 1742-6|NM|30|U/L|pending" ;;
		esac
	done
	# "plt?": its OBX-11 emptied (status unknown).
	# shellcheck disable=SC2086
	oru "$1" "$2" "$3" $obx | sed 's/|150-400|||||F|||/|150-400||||||||/'
}
hl7 XP P1 10 'plt?,alt-' >"$TMP/before.hl7"
send "$TMP/before.hl7"
"$LW" enroll XP --phase screening --since 2026-11-01 >/dev/null
"$LW" enroll XQ --phase screening --since 2026-11-01 >/dev/null
"$LW" enroll XU --phase screening --since 2026-11-01 >/dev/null
"$LW" enroll XR --phase screening --since 2026-11-01 >/dev/null
{ hl7 XP P2 11 'alt-,panel'; hl7 XQ Q1 11 'plt?,alt-'; hl7 XQ Q2 12 'alt-,panel'; hl7 XU U1 11 astk; hl7 XR R1 11 'astmg,altnote'; } >"$TMP/after.hl7"
send "$TMP/after.hl7"
lwd_stop d
check "fed: every message stored" eq "$(q "select count(*) from labwatch.messages where outcome = 'processed'")" 6
dq() { q "select coalesce(string_agg(p.patient_id || ':' || m.control_id || ':' || coalesce(a.analyte, '-') || ':' || (a.details->>'problem'), ',' order by p.patient_id, m.control_id, a.analyte), '') from labwatch.alerts a join labwatch.patients p on p.id = a.patient join labwatch.messages m on m.id = a.message where a.kind = 'data_quality' and a.state <> 'retracted'"; }
check "fed: labwatchd's data_quality alerts (XP's P1 came before enrollment: none)" eq \
	"$(dq)" "XQ:Q1:plt:status_unknown,XR:R1:alt:range_unreadable,XR:R1:ast:unit_unknown"
check "fed: verdict rows on the messages after enrollment only" eq \
	"$(q "select string_agg(m.control_id, ',' order by m.control_id) from labwatch.eligibility x join labwatch.messages m on m.id = x.message")" "P2,Q1,Q2,R1,U1"
c0=$(q "select count(*) from labwatch.alerts")

rev --protocol-file "$PROTO" >"$TMP/same.out"
check "same protocol: exit 0" test $? -eq 0
check "same protocol: no change line (none for XP's P1)" eq "$(changes "$TMP/same.out")" ""
check "same protocol: data_quality 3 unchanged" eq "$(summary "$TMP/same.out" data_quality)" 0/0/0/3
check "same protocol: nothing written" eq "$(q "select count(*) from labwatch.alerts")" "$c0"

rev --protocol-file "$TMP/data/protocols/noalt.conf" >"$TMP/noalt.out"
check "no ALT default: exit 0" test $? -eq 0
check "no ALT default: no_reference_range on the judged messages, not on P1" eq "$(dq)" \
	"XP:P2:alt:no_reference_range,XQ:Q1:alt:no_reference_range,XQ:Q1:plt:status_unknown,XQ:Q2:alt:no_reference_range,XR:R1:alt:range_unreadable,XR:R1:ast:unit_unknown"
check "no ALT default: data_quality 3 new, 3 unchanged" eq "$(summary "$TMP/noalt.out" data_quality)" 3/0/0/3
rev --protocol-file "$TMP/data/protocols/noalt.conf" >"$TMP/noalt2.out"
check "no ALT default twice: nothing the second time" eq "$(changes "$TMP/noalt2.out")" ""
rev --protocol-file "$PROTO" >"$TMP/back.out"
check "back: the three retracted, labwatchd's own left" eq "$(summary "$TMP/back.out" data_quality) $(dq)" \
	"0/3/0/3 XQ:Q1:plt:status_unknown,XR:R1:alt:range_unreadable,XR:R1:ast:unit_unknown"

# The words of a data_quality alert reevaluate writes are labwatchd's:
# XU's AST in µkat/L judged again under the catalog without that unit,
# and the same OBX sent to labwatchd running on that catalog (patient
# XV). Before the fix reevaluate wrote "Cannot evaluate  for patient XU"
# (no analyte, value or unit: the OBX was not given to alert_text.c).
rev --protocol-file "$TMP/nounit/protocols/nct04933669.conf" --patient XU >"$TMP/nounit.out"
check "no µkat/L: XU's AST unit_unknown, new" eq "$(changes "$TMP/nounit.out")" "new data_quality XU ast None"
lwd_db_conf "$TMP/n.conf" "protocol = $TMP/nounit/protocols/nct04933669.conf"
lwd_start n "$TMP/n.conf"
"$LW" enroll XV --phase screening --since 2026-11-01 >/dev/null
hl7 XV V1 11 astk >"$TMP/xv.hl7"
send "$TMP/xv.hl7"
lwd_stop n
words() { q "select a.severity || '|' || coalesce(a.analyte, '-') || '|' || replace(a.summary, 'patient $1', 'patient P') || '|' || a.details::text from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$1' and a.kind = 'data_quality' and a.state <> 'retracted'"; }
check "no µkat/L: labwatchd's words for XV" eq "$(words XV)" \
	'warning|ast|Cannot evaluate AST 0.5 µkat/L for patient P (NCT04933669): unit_unknown|{"problem": "unit_unknown"}'
check "no µkat/L: reevaluate's words for XU are labwatchd's" eq "$(words XU)" "$(words XV)"
# XR's two alerts (a unit and an OBX-7 the rules cannot read, which the
# history read marks with a U+FFFD) retracted by hand: reevaluate writes
# them again, in labwatchd's words (OBX-7 quoted, no U+FFFD).
xr0=$(words XR)
q "update labwatch.alerts a set state = 'retracted' from labwatch.patients p where p.id = a.patient and p.patient_id = 'XR' and a.kind = 'data_quality'" >/dev/null
rev --protocol-file "$PROTO" --patient XR >"$TMP/xr.out"
check "XR: both written again" eq "$(summary "$TMP/xr.out" data_quality)" 2/0/0/0
check "XR: in labwatchd's words" eq "$(words XR)" "$xr0"
check "XR: the OBX-7 quoted" eq "$(echo "$xr0" | grep -c 'OBX-7 \"pending\")|')" 1
done_testing
