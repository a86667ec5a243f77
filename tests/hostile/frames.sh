#!/bin/sh
# tests/hostile/frames.sh [--full]: the hostile-frame corpus (issue 14,
# item 2) against a running labwatchd and a private PostgreSQL. Each case
# of tests/hostile/corpus.py (the table is expected.tsv) goes over MLLP on
# its own connection and must get its expected answer (AE/AR/CR with ERR,
# AA where the frame is valid after all, or a close when it cannot be
# answered) and add its expected quarantine rows; a well-behaved sender
# gets AA every 5 cases and its messages are stored. The corpus is the
# same in the short and the full form (about 3 minutes); --full only adds
# a second pass, to show that nothing drifts once the tables are warm.
full=0
[ "${1:-}" = --full ] || [ -n "${HOSTILE_FULL:-}" ] && full=1
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/hostile/common.sh"
skip_if_listed frames

# The table in the tree is what the generator writes.
mkdir "$TMP/c"
$PY "$HERE/corpus.py" write "$TMP/c"
$PY "$HERE/corpus.py" list >"$TMP/t.tsv"
check "expected.tsv is what corpus.py lists" cmp "$TMP/t.tsv" "$HERE/expected.tsv"
check "at least 200 cases" test "$(wc -l <"$TMP/t.tsv")" -ge 200

# frame_timeout 3 s: the frame that never ends is closed in seconds.
hostile_conf "$TMP/d.conf" "frame_timeout = 3s"
lwd_start d "$TMP/d.conf"
rss0=$(rss "$TMP/d.pid")
passes=$((1 + full))
for pass in $(seq $passes); do
	$PY "$HERE/send_corpus.py" "$port" "$TMP/c" "$TMP/t.tsv" 5 "P$pass-" >"$TMP/out$pass" 2>&1
	# name, expected, got, expected rows, rows, ms
	while IFS="$(printf '\t')" read -r name exp got qexp qgot ms; do
		case $name in GOOD*) continue ;; esac
		if [ "$got" = "$exp" ] && [ "$qgot" = "$qexp" ]; then
			ok "pass $pass: $name: $exp, $qexp quarantined (${ms} ms)"
		else
			not_ok "pass $pass: $name" "want $exp and $qexp rows, got $(echo "$got" | cut -c1-60) and $qgot rows"
		fi
	done <"$TMP/out$pass"
	check "pass $pass: every case answered" test "$(grep -vc '^GOOD' "$TMP/out$pass")" -eq "$(wc -l <"$TMP/t.tsv")"
	good=$(grep -c '^GOOD' "$TMP/out$pass")
	check "pass $pass: the well-behaved sender got AA every time ($good frames)" \
		sh -c "[ $good -gt 40 ] && ! grep '^GOOD' '$TMP/out$pass' | grep -v ' AA\$'"
done
check "the well-behaved sender's frames are all stored, processed" \
	test "$(q "select count(*) from labwatch.messages where sending_application = 'GOODLIS' and outcome = 'processed'")" -eq "$(cat "$TMP"/out* | grep -c '^GOOD')"
check "labwatchd is still running" kill -0 "$(cat "$TMP/d.pid")"
rss1=$(rss "$TMP/d.pid")
echo "labwatchd resident memory: $rss0 KiB before the corpus, $rss1 KiB after"
# Not under ASan: its quarantine keeps freed memory resident.
if ! grep -q __asan_init "$LABWATCHD"; then
	check "its resident memory after the corpus is under 256 MiB ($rss1 KiB)" test "$rss1" -lt 262144
fi
check "every quarantined row says why" test "$(q "select count(*) from labwatch.messages where outcome = 'quarantined' and coalesce(reason, '') = ''")" -eq 0
lwd_stop d
check "no patient data in the log" no_patient_data 'HOSTILEPID|Secretname|GOODPAT|CROWDPAT' "$TMP/d.log"
# 100,000 start blocks are 100,000 cut frames: their lines are throttled.
lines=$(wc -l <"$TMP/d.log")
check "the log stays small ($lines lines)" test "$lines" -lt $((2000 * passes))
check "no error lines in the log (nor a sanitizer's report)" sh -c "! grep -E ' (error|crit|alert|emerg):|Sanitizer' '$TMP/d.log'"
done_testing
