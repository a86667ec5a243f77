# tests/lib.sh: what the shell tests share. Each case reports PASS/FAIL and
# the script ends with a Criterion-style "Synthesis" line that ./scripts/test
# adds to its totals.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=.}"
# Absolute, so that a test may cd (make check passes relative paths).
top_srcdir=$(cd "$top_srcdir" && pwd)
top_builddir=$(cd "$top_builddir" && pwd)
PY=/usr/bin/python3
t_pass=0
t_fail=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/labwatch-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

ok() { t_pass=$((t_pass + 1)); echo "PASS: $1"; }
not_ok() { t_fail=$((t_fail + 1)); echo "FAIL: $1${2:+: $2}"; }
# check NAME COMMAND...: the command's exit status decides.
check() {
	local name=$1
	shift
	if "$@" >"$TMP/check.out" 2>&1; then ok "$name"; else
		not_ok "$name" "$(tail -n 5 "$TMP/check.out")"
	fi
}
done_testing() {
	echo "Synthesis: Tested: $((t_pass + t_fail)) | Passing: $t_pass | Failing: $t_fail | Crashing: 0"
	[ "$t_fail" -eq 0 ]
}
