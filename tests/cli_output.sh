#!/bin/sh
# Output for people: labwatch alerts and status as tables (compared with
# the golden files of tests/data/golden/), JSON lines when stdout is not a
# terminal, colour on a terminal (util-linux script(1) gives one) and
# never with NO_COLOR or --no-color, --follow rows as alerts arrive.
#
# The rows are written here as labwatchd writes them, with fixed times
# (ages are whole minutes, hours and days ago: stable for a minute).
# UPDATE_GOLDEN=1 rewrites the golden files from what the commands print.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/pg.sh"
LW="$top_builddir/cli/labwatch"
GOLDEN="$top_srcdir/tests/data/golden"

if ! pg_bindir >/dev/null 2>&1; then
	echo "SKIP: no PostgreSQL server installed"
	exit 77
fi
PGDIR=$(mktemp -d /tmp/labwatch-pg.XXXXXX)
chmod 755 "$PGDIR"
FOLLOW_PID=
cleanup() {
	[ -n "$FOLLOW_PID" ] && kill "$FOLLOW_PID" 2>/dev/null
	pg_stop "$PGDIR" >/dev/null 2>&1 || pg_kill9 "$PGDIR" >/dev/null 2>&1
	rm -rf "$TMP" "$PGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if ! pg_start "$PGDIR"; then
	not_ok "private PostgreSQL starts" "$(tail -n 5 "$PGDIR/data/server.log" 2>/dev/null)"
	done_testing
	exit 1
fi
ok "private PostgreSQL starts"
PSQL="$(pg_bindir)/psql -X -q -v ON_ERROR_STOP=1 -tA"
q() { $PSQL -c "$1"; }
# The protocol data of this tree, for the restart thresholds.
(. "$top_srcdir/scripts/lib.sh" && tree_datadir "$TMP/share/labwatch" "$top_srcdir")
export LABWATCH_DATADIR="$TMP/share/labwatch" LABWATCH_SQLDIR="$top_srcdir/sql"
# What the golden files were made with, whatever the caller's terminal.
export COLUMNS=100 LC_ALL=C.UTF-8 TERM=xterm
unset NO_COLOR

"$LW" migrate >/dev/null 2>&1
check "migrate" test $? -eq 0
for e in "S1 screening" "T1 neoadjuvant" "T2 adjuvant"; do
	# shellcheck disable=SC2086
	set -- $e
	"$LW" enroll "$1" --phase "$2" --since 2026-11-01T08:00:00Z >/dev/null
done
q "
INSERT INTO labwatch.messages (received_at, peer, outcome, ack_code, size, raw, sha256)
VALUES ('2026-11-24 09:30Z', 't', 'processed', 'AA', 1, 'x', 'x');
INSERT INTO labwatch.observations (id, message, patient, order_key, analyte, value, unit,
	canonical_value, canonical_unit, comparator, lln, uln, status, observed_at, grade)
SELECT v.id, 1, p.id, 'o', v.a, v.v, v.u, v.v, v.u, v.cmp, v.lln, v.uln, 'F', v.t::timestamptz, v.g
FROM (VALUES
	(1, 'S1', 'plt', 62, '10^9/L', NULL, 150, 400, '2026-11-24 08:00Z', 2),
	(2, 'S1', 'alt', 31, 'U/L', NULL, NULL, 40, '2026-11-24 08:00Z', 0),
	(3, 'S1', 'crea', 70.72000000000001, 'µmol/L', NULL, 62, 97, '2026-11-24 08:00Z', 0),
	(4, 'T1', 'alt', 120, 'U/L', NULL, NULL, 40, '2026-11-23 08:00Z', 1),
	(5, 'T1', 'alt', 226, 'U/L', NULL, NULL, 40, '2026-11-24 09:00Z', 3),
	(6, 'T1', 'ast', 24, 'U/L', NULL, NULL, 40, '2026-11-24 09:00Z', 0),
	(7, 'T2', 'anc', 0.5, '10^9/L', '<', 1.8, 7.5, '2026-11-24 09:15Z', 4)
) AS v(id, pid, a, v, u, cmp, lln, uln, t, g) JOIN labwatch.patients p ON p.patient_id = v.pid;
INSERT INTO labwatch.eligibility (patient, protocol, status, evaluated_at, criteria)
SELECT id, 'NCT04933669', 'ineligible', '2026-11-24 08:01Z', '[
 {\"analyte\": \"alt\", \"criterion\": \"ALT > 2.5 x ULN\", \"verdict\": \"pass\", \"value\": 31, \"unit\": \"U/L\", \"observation\": 2},
 {\"analyte\": \"crea\", \"criterion\": \"creatinine > 1.0 x ULN\", \"verdict\": \"pass\", \"value\": 70.72, \"unit\": \"µmol/L\", \"observation\": 3},
 {\"analyte\": \"plt\", \"criterion\": \"platelets < 75 x 10^9/L\", \"verdict\": \"fail\", \"value\": 62, \"unit\": \"10^9/L\", \"observation\": 1},
 {\"analyte\": \"hgb\", \"criterion\": \"hemoglobin < 90 g/L\", \"verdict\": \"no_result\", \"value\": null, \"unit\": null, \"observation\": 0}
]' FROM labwatch.patients WHERE patient_id = 'S1';
UPDATE labwatch.enrollments e SET hold_state = '{\"hepatotoxicity\": 1795510800}'
FROM labwatch.patients p WHERE p.id = e.patient AND p.patient_id = 'T1';
UPDATE labwatch.enrollments e SET hold_state = '{\"myelosuppression\": {\"since\": 1795511700, \"obs\": 0, \"stops\": 2}, \"hepatotoxicity\": {\"stops\": 1}}'
FROM labwatch.patients p WHERE p.id = e.patient AND p.patient_id = 'T2';
INSERT INTO labwatch.alerts (patient, protocol, kind, severity, analyte, grade, summary, state, created_at)
SELECT p.id, 'NCT04933669', v.k, v.s, v.a, v.g, v.sum, v.st, now() - v.ago::interval
FROM (VALUES
	('S1', 'eligibility', 'warning', NULL, NULL, 'Patient S1 is INELIGIBLE for NCT04933669; platelets < 75 x 10^9/L: 62 10^9/L', 'open', '4 days 2 hours'),
	('T1', 'toxicity', 'critical', 'alt', 3, 'ALT 226 U/L = 5.65 x ULN (40): CTCAE grade 3 (Alanine aminotransferase increased) - patient T1, NCT04933669 - crosses the imatinib stop threshold', 'open', '2 hours 10 minutes'),
	('T1', 'hold', 'critical', NULL, NULL, 'HOLD imatinib (hepatotoxicity): patient T1, NCT04933669: ALT 226 U/L = 5.65 x ULN (40) - stop per the label until the restart thresholds are met', 'open', '2 hours 9 minutes'),
	('T2', 'data_quality', 'warning', 'hgb', NULL, 'Hb 7.1 mg/mL (Ærø 日本語)' || chr(27) || '[2J' || chr(10) || 'for T2: cannot evaluate, unit_unknown', 'acknowledged', '3 minutes 1 second'),
	('T2', 'toxicity', 'critical', 'anc', 4, 'ANC <0.5 10^9/L (LLN 1.8): CTCAE grade 4 (Neutrophil count decreased) - patient T2', 'open', '5 hours 1 minute')
) AS v(pid, k, s, a, g, sum, st, ago) JOIN labwatch.patients p ON p.patient_id = v.pid
ORDER BY v.ago::interval DESC" >/dev/null
check "the rows are in" test "$(q "SELECT count(*) FROM labwatch.alerts")" -eq 5

# golden NAME COMMAND...: what the command prints is tests/data/golden/NAME.
golden() {
	name=$1
	shift
	"$@" >"$TMP/$name.raw" 2>"$TMP/$name.err"
	st=$?
	# The schema grows with every migration: its line is checked apart.
	sed 's/^\(Schema *\)[0-9][0-9]*$/\1NNN/' "$TMP/$name.raw" >"$TMP/$name"
	if [ -n "${UPDATE_GOLDEN:-}" ]; then
		cp "$TMP/$name" "$GOLDEN/$name"
	fi
	if [ $st -ne 0 ]; then
		not_ok "golden $name" "exit $st: $(cat "$TMP/$name.err")"
	elif cmp -s "$TMP/$name" "$GOLDEN/$name"; then
		ok "golden $name"
	else
		not_ok "golden $name" "$(diff -u "$GOLDEN/$name" "$TMP/$name" | head -n 20)"
	fi
}

# --- the tables (forced: no terminal here)
golden alerts_all.txt "$LW" alerts --state all --format table
golden alerts_open.txt "$LW" alerts --format table
COLUMNS=60 LC_ALL=C golden alerts_narrow_ascii.txt "$LW" alerts --state all --format table
golden alerts_none.txt "$LW" alerts --state retracted --format table
golden alerts_color.txt "$LW" alerts --format table --color always
golden status_counts.txt "$LW" status --format table
newest=$(ls "$top_srcdir"/sql/[0-9]*.sql | sed -n '$s|.*/\([0-9]*\)_.*|\1|p')
check "status counts: the schema is the newest migration ($newest)" \
	grep -qx "Schema  *$newest" "$TMP/status_counts.txt.raw"
golden status_screening.txt "$LW" status S1 --format table
golden status_hold.txt "$LW" status T1 --format table
golden status_hold_color.txt "$LW" status T2 --format table --color always

env -u COLUMNS "$LW" alerts --format table >"$TMP/w1" 2>&1
check "table into a file, no COLUMNS: summaries whole" grep -q 'crosses the imatinib stop threshold$' "$TMP/w1"

# --- JSON lines when stdout is not a terminal, the same as --json
"$LW" alerts --state all >"$TMP/j1" 2>/dev/null
"$LW" alerts --state all --json >"$TMP/j2" 2>/dev/null
"$LW" alerts --state all --format json >"$TMP/j3" 2>/dev/null
check "no terminal: JSON lines by default" json_assert "$TMP/j1" '
len(L) == 5 and [a["id"] for a in L] == [1, 2, 3, 4, 5] and [a for a in L if a["kind"] == "data_quality"][0]["summary"].startswith("Hb 7.1 mg/mL (Ærø 日本語)\x1b[2J\nfor T2")'
check "--json and --format json: the same lines" sh -c 'cmp "$1" "$2" && cmp "$1" "$3"' sh "$TMP/j1" "$TMP/j2" "$TMP/j3"
"$LW" status T1 >"$TMP/j4" 2>/dev/null
check "status, no terminal: one JSON line" json_assert "$TMP/j4" '
len(L) == 1 and L[0]["patient_id"] == "T1" and L[0]["enrollment"]["hold_state"] == {"hepatotoxicity": 1795510800}'
"$LW" status >"$TMP/j5" 2>/dev/null
check "status counts, no terminal: one JSON line" json_assert "$TMP/j5" 'len(L) == 1 and L[0]["open_alerts"]["toxicity"] == 2'
fails() { # status file-with-stderr pattern
	[ "$1" -eq "$2" ] || { echo "exit $1, want $2"; cat "$3"; return 1; }
	grep -q -- "$4" "$3" || { echo "no '$4' in:"; cat "$3"; return 1; }
}
"$LW" alerts --format yaml >/dev/null 2>"$TMP/e1"
check "--format yaml: exit 2, said why" fails $? 2 "$TMP/e1" "--format is table or json"
"$LW" status --color sometimes >/dev/null 2>"$TMP/e2"
check "--color sometimes: exit 2, said why" fails $? 2 "$TMP/e2" "--color is always, never or auto"
# (NO_COLOR with --format table is tested on a terminal below: without
# one there is no colour anyway, so a case here could not fail.)

# --- on a terminal (script(1) from util-linux gives one)
ESC=$(printf '\033')
if command -v script >/dev/null 2>&1; then
	onterm() { # COMMAND: run on a pseudo-terminal, output without CRs
		script -qec "$*" /dev/null </dev/null | tr -d '\r'
	}
	onterm "$LW" alerts >"$TMP/t1"
	check "terminal: a table" grep -q '^.*ID  SEVERITY  AGE  PATIENT  KIND  *STATE  SUMMARY' "$TMP/t1"
	check "terminal: critical alerts in bold red" grep -q "^${ESC}\[1;31m 2  critical" "$TMP/t1"
	check "terminal: the rest plain" grep -q '^ 1  warning' "$TMP/t1"
	NO_COLOR=1 onterm "$LW" alerts >"$TMP/t2"
	check "terminal, NO_COLOR=1: the table, no colour" sh -c \
		'grep -q "^ 2  critical" "$1" && ! grep -q "$2" "$1"' sh "$TMP/t2" "$ESC"
	NO_COLOR=1 onterm "$LW" alerts --format table >"$TMP/t2b"
	check "terminal, NO_COLOR=1 with --format table: no colour" sh -c \
		'grep -q "^ 2  critical" "$1" && ! grep -q "$2" "$1"' sh "$TMP/t2b" "$ESC"
	NO_COLOR= onterm "$LW" alerts >"$TMP/t3"
	check "terminal, NO_COLOR empty: colour (no-color.org: non-empty disables)" grep -q "$ESC" "$TMP/t3"
	onterm "$LW" alerts --no-color >"$TMP/t4"
	check "terminal, --no-color: no colour" sh -c \
		'grep -q "^ 2  critical" "$1" && ! grep -q "$2" "$1"' sh "$TMP/t4" "$ESC"
	NO_COLOR=1 onterm "$LW" alerts --color always >"$TMP/t5"
	check "terminal, --color always beats NO_COLOR" grep -q "$ESC" "$TMP/t5"
	onterm "$LW" alerts --json >"$TMP/t6"
	check "terminal, --json: JSON lines" json_assert "$TMP/t6" 'len(L) == 4'
	onterm "$LW" status T1 >"$TMP/t7"
	check "terminal: status is tables" sh -c 'grep -q "Holds in force" "$1" && grep -q "hepatotoxicity" "$1"' sh "$TMP/t7"
	TERM=dumb onterm "$LW" alerts >"$TMP/t8"
	check "terminal, TERM=dumb: no colour" sh -c '! grep -q "$2" "$1"' sh "$TMP/t8" "$ESC"
else
	echo "# script(1) not installed: the terminal cases are skipped"
fi

# --- --follow as a table: the titles at once, then each alert as it comes
: >"$TMP/f" # before the loop reads it: the job may not have opened it yet
"$LW" alerts --follow --format table --no-color >"$TMP/f" 2>"$TMP/f.err" &
FOLLOW_PID=$!
n=0
while [ "$(wc -l <"$TMP/f")" -lt 5 ] && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
check "--follow table: titles and the open alerts" sh -c \
	'[ "$(wc -l <"$1")" -eq 5 ] && head -n 1 "$1" | grep -q "^ID  SEVERITY" || { wc -l "$1"; cat "$1"; exit 1; }' sh "$TMP/f"
q "INSERT INTO labwatch.alerts (patient, protocol, kind, severity, summary)
   SELECT id, 'NCT04933669', 'hold', 'critical', 'HOLD imatinib (myelosuppression): patient T2'
   FROM labwatch.patients WHERE patient_id = 'T2'" >/dev/null
n=0
while ! grep -q '^ 6  critical' "$TMP/f" && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
check "--follow table: the new alert's row" grep -Eq '^ 6  critical +[0-9]+s  T2 +hold +open +HOLD imatinib \(myelosuppression\): pat' "$TMP/f"
check "--follow table: aligned with the titles" awk '
NR == 1 { c = index($0, "SUMMARY") }
/^ 6 / { found = 1; if (index($0, "HOLD imatinib") != c) exit 1 }
END { exit !found }' "$TMP/f"
kill -INT $FOLLOW_PID
wait $FOLLOW_PID
st=$?
FOLLOW_PID=
check "--follow table: exit 0 on SIGINT" test "$st" -eq 0

done_testing
