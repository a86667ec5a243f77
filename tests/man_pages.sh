#!/bin/sh
# The manual pages (doc/): each renders without a single warning
# (man --warnings=w, i.e. groff -ww: every warning), labwatchd.conf(5) and the example file
# hold every key of the daemon's table, and the pages name every command
# and option that the programs' --help prints.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LW="$top_builddir/cli/labwatch"
LWD="$top_builddir/daemon/labwatchd"
DOC="$top_builddir/doc"

# 1. Rendering: no warning (a test page with a bad request proves the
# check can fail). Only "cannot adjust/break line" is let pass: it depends
# on the install prefix substituted into the page (distcheck's is a long
# path that no line of 80 columns can hold), not on the page's markup.
render() { # PAGE: fails on any other message on stderr
	LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -E UTF-8 -l "$1" \
	    >"$TMP/render.out" 2>"$TMP/render.all" || return 1
	test -s "$TMP/render.out" || return 1
	grep -v -E 'warning.*: cannot (adjust|break) line' "$TMP/render.all" \
	    >"$TMP/render.err"
	if [ -s "$TMP/render.err" ]; then cat "$TMP/render.err"; return 1; fi
}
for p in labwatch.1 labwatchd.8 labwatchd.conf.5 labwatch-notify.8 labwatch-board.8; do
	check "$p exists" test -s "$DOC/$p"
	check "$p renders without a warning" render "$DOC/$p"
	check "$p has no @...@ left" sh -c '! grep -n "@[A-Za-z]*@" "$0"' "$DOC/$p"
done
printf '.TH BAD 1\n.SH NAME\nbad \\- bad\n.BOGUS x\n\\fX\n' >"$TMP/bad.1"
if render "$TMP/bad.1"; then not_ok "the warning check can fail"; else ok "the warning check can fail"; fi

# 2. labwatchd.conf(5) and the example file: every key of the table.
"$LWD" --print-config-example | sed -n 's/^\([a-z_]*\) =.*/\1/p' >"$TMP/keys"
check "the key table has keys" test "$(wc -l <"$TMP/keys")" -ge 30
missing=""
for k in $(cat "$TMP/keys"); do
	grep -q "^\.BR $k \" = \"" "$DOC/labwatchd.conf.5" || missing="$missing $k(man)"
	grep -q "^$k =" "$top_srcdir/daemon/labwatchd.conf.example" || missing="$missing $k(example)"
done
if [ -z "$missing" ]; then ok "every key is in labwatchd.conf(5) and the example"; else
	not_ok "every key is in labwatchd.conf(5) and the example" "$missing"; fi
check "labwatchd.conf(5) lists no key the table lacks" test \
    "$(grep -c '^\.BR [a-z_]* " = "' "$DOC/labwatchd.conf.5")" -eq "$(wc -l <"$TMP/keys")"
"$LWD" --print-conf-doc >"$TMP/confdoc"
sed -e '1,/^\.SH KEYS$/d' -e '/^\.SH FILES$/,$d' "$DOC/labwatchd.conf.5" >"$TMP/confman"
check "labwatchd.conf(5)'s key list is what --print-conf-doc writes" cmp "$TMP/confdoc" "$TMP/confman"

# 3. Options and commands: what --help prints, the page names
# (as \-\-option in the roff source).
opts() { grep -o -- '--[a-z][a-z-]*' | sort -u; }
has_all() { # PAGE LIST-FILE: every word of the list in the page
	missing=""
	for o in $(cat "$2"); do
		r=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
		grep -q -- "$r\([^a-z-]\|$\)" "$1" || missing="$missing $o"
	done
	[ -z "$missing" ] || { echo "missing:$missing"; return 1; }
}
"$LWD" --help | opts >"$TMP/lwd.opts"
check "labwatchd(8) has every option of labwatchd --help" has_all "$DOC/labwatchd.8" "$TMP/lwd.opts"
"$LW" --help | sed -n 's/^  \([a-z]*\) .*/\1/p' >"$TMP/commands"
check "labwatch --help lists commands" test "$(wc -l <"$TMP/commands")" -ge 10
nosection=""
for c in $(cat "$TMP/commands"); do
	grep -q "^\.SS \"$c[ \"]" "$DOC/labwatch.1" || nosection="$nosection $c"
	"$LW" "$c" --help 2>&1 | opts >"$TMP/$c.opts"
	check "labwatch $c --help prints options" test -s "$TMP/$c.opts"
	page="$DOC/labwatch.1"
	[ "$c" = notify ] && page="$DOC/labwatch-notify.8"
	[ "$c" = board ] && page="$DOC/labwatch-board.8"
	check "$(basename "$page") has every option of labwatch $c --help" has_all "$page" "$TMP/$c.opts"
done
if [ -z "$nosection" ]; then ok "labwatch(1) has a section per command"; else
	not_ok "labwatch(1) has a section per command" "$nosection"; fi

done_testing
