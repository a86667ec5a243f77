#!/bin/sh
# doc/screenshots.sh [BUILDDIR]: the README's pictures of the board,
# doc/board-alerts.png, doc/board-screening.png (desktop, 1000 px) and
# doc/board-patient.png (a phone, 390 px), taken from the demo's data
# (scripts/demo-data) by tests/board_browser.sh in headless chromium.
# BUILDDIR (default build/) holds a built tree: cli/labwatch and
# daemon/labwatchd. Needs what the test needs: PostgreSQL, python3-hl7,
# chromium.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
out=$top/doc
top_srcdir=$top top_builddir=$build BOARD_SCREENSHOTS=$out \
	sh "$top/tests/board_browser.sh" >"$build/screenshots.log" 2>&1 || {
	grep -E '^(FAIL|SKIP)' "$build/screenshots.log" >&2
	exit 1
}
grep '^wrote ' "$build/screenshots.log"
