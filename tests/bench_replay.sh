#!/bin/sh
# The replay benchmark's smoke run (bench/run-replay, issue 13 item 8):
# 1,000 messages replayed into labwatchd on a private PostgreSQL and
# verified (each stored once), mllp_load for 1 s, python-hl7's mllp_send
# over the first 200, and the same-work pair over the first 300; the
# figures are not judged, the checks are.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
skip_if_listed bench_replay
NO_MAKE=1 BUILD="$top_builddir" SECS=1 SEND=200 SAME=300 OUT="$TMP" \
	bash "$top_srcdir/bench/run-replay" 1000 >"$TMP/run.out" 2>&1
st=$?
check "run-replay 1000: exit 0" test $st -eq 0
check "replay: 1000 messages stored once" grep -q "1,000 messages in .* 1000 stored once" "$TMP/run.out"
check "mllp_load: verified" grep -q "verified once" "$TMP/run.out"
check "mllp_send: 200 stored once" grep -q "first 200 messages in .* 200 stored once" "$TMP/run.out"
check "same work: both ways twice, each stored once" grep -q "replay / mllp_load@16, same work: [0-9]" "$TMP/run.out"
cat "$TMP/run.out"
done_testing
