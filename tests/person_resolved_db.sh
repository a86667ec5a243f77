#!/bin/sh
# A toxicity alert a person resolved (labwatch resolve) is still its
# episode's alert for labwatchd while the episode goes on (CLINICAL.md,
# "Alert episodes"; store/rows.h ROWS_PERSON_GOES_ON): the same grade adds
# nothing, a higher grade supersedes it, a recovery ends it, and it is
# never opened again nor paged again. Before, a daemon whose cache had
# been reloaded since the person resolved it (a restart, any enrollment
# change, a failed batch) raised a second alert of the same grade for the
# next result, one that had not reloaded did not, and labwatch reevaluate
# retracted it; a deleted grade 4 opened the person's alert again, their
# name and note still on it.
#
# Each case: ALT 250 U/L (grade 3) on the 20th, resolved by a person,
# then the steps below, a day apart (D: the previous step's result
# deleted). Fed to a daemon running throughout (R) and to one restarted
# before each step after the resolution (S): both leave the expected
# alerts, no alert of the case has a reopen event, and labwatch
# reevaluate under the same protocol finds nothing to change.
#   C1  260                 the same grade: nothing new
#   C2  900                 grade 4 supersedes it
#   C3  30, 260             ended (a recovery line), then a new episode
#   C4  900, D              the grade 4 retracted; theirs stays resolved
#   C5  30, D, 260          the recovery withdrawn: theirs goes on, the
#                           260 adds nothing
#   C6  900, D, 260         as C4, then nothing new
#   C7  (another patient enrolled after the resolution, which flushes
#       every patient's cache), 260: nothing new
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
pg_suite personres

lwd_db_conf "$TMP/d.conf"
enroll() { "$LW" enroll "$1" --phase neoadjuvant --since 2026-11-01 >/dev/null; }
# alt PATIENT CONTROL_ID DAY VALUE [D]: one ALT result (with D: that
# message's result deleted, under a control id of its own), ACKed
alt() {
	(ORU_STATUS=${5:-F} && oru "$1" "$2" "202611${3}073000+0800" "1742-6|NM|$4|U/L|10-40") |
		sed "s/|$2|P|2.5.1/|$2${5:-}|P|2.5.1/" >"$TMP/m.hl7"
	mllp_send --loose -f "$TMP/m.hl7" -p "$port" 127.0.0.1 >"$TMP/send.out" 2>&1
	grep -q "MSA|AA|$2${5:-}" "$TMP/send.out" || echo "not AA: $1 $2${5:-}" >>"$TMP/errors"
}
CASES="C1 C2 C3 C4 C5 C6 C7"
steps() { # CASE: its steps after the resolution
	case $1 in
	C1) echo 260 ;; C2) echo 900 ;; C3) echo 30 260 ;; C4) echo 900 D ;;
	C5) echo 30 D 260 ;; C6) echo 900 D 260 ;; C7) echo E 260 ;;
	esac
}
want() {
	case $1 in
	C1 | C7) echo "toxicity:3:resolved:dr.chase" ;;
	C2) echo "toxicity:3:resolved:dr.chase toxicity:4:open:-" ;;
	C3) echo "toxicity:3:resolved:dr.chase recovery:0:open:- toxicity:3:open:-" ;;
	C4 | C6) echo "toxicity:3:resolved:dr.chase toxicity:4:retracted:-" ;;
	C5) echo "toxicity:3:resolved:dr.chase recovery:0:retracted:-" ;;
	esac
}
got() {
	q "select string_agg(a.kind || ':' || coalesce(a.grade, 0) || ':' || a.state || ':' || coalesce(a.resolved_by, '-'), ' ' order by a.id)
	   from labwatch.alerts a join labwatch.patients p on p.id = a.patient
	   where p.patient_id = '$1' and a.kind in ('toxicity', 'recovery')"
}
# run MODE: every case for patients MODE-CASE, step by step; S restarts
# the daemon before each step after the resolutions
run() {
	lwd_start "$1" "$TMP/d.conf"
	for c in $CASES; do
		enroll "$1-$c"
		alt "$1-$c" "$1${c}A" 20 250
	done
	for c in $CASES; do
		a=$(q "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$1-$c' and a.kind = 'toxicity'")
		"$LW" resolve "$a" --by dr.chase --note "imatinib held" >/dev/null
	done
	for k in 1 2 3; do
		if [ "$1" = S ]; then
			lwd_stop "$1"
			lwd_start "$1" "$TMP/d.conf"
		fi
		for c in $CASES; do
			# shellcheck disable=SC2046
			set -- "$1" $(steps "$c")
			[ "$#" -gt "$k" ] || { set -- "$1"; continue; }
			eval "v=\${$((k + 1))}"
			set -- "$1"
			case $v in
			E) enroll "$1-$c-other" ;;
			D) eval "alt \"$1-$c\" \$last_$c D" ;;
			*)
				alt "$1-$c" "$1$c$k" "$((20 + k))" "$v"
				eval "last_$c=\"$1$c$k $((20 + k)) $v\""
				;;
			esac
		done
	done
	lwd_stop "$1"
}
run R
run S
check "every message ACKed AA" test ! -s "$TMP/errors"
for m in R S; do
	for c in $CASES; do
		check "$m $c: $(steps "$c" | tr ' ' ,)" eq "$(got "$m-$c")" "$(want "$c")"
	done
done
check "no alert of a person's resolution opened again" eq "$(q "select count(*) from labwatch.alert_events where event = 'reopen'")" 0
check "their names and notes kept" eq "$(q "select count(*) from labwatch.alerts where resolved_by = 'dr.chase' and resolve_note = 'imatinib held' and state = 'resolved'")" 14
"$LW" reevaluate --dry-run --protocol-file "$top_srcdir/rules/data/protocols/nct04933669.conf" >"$TMP/re.out" 2>"$TMP/re.err"
check "reevaluate under the same protocol: nothing to change" eq "$(grep -c '"change"' "$TMP/re.out")" 0
done_testing
