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

# With labwatch reevaluate between the steps (a review's cases): M1, a
# late normal, the person's resolution, the grade 3 after it deleted,
# reevaluate, 270, reevaluate, 900: before, reevaluate left the person's
# alert open for labwatchd beside the new episode's, and the 900 was
# refused by alerts_one_open_episode (quarantined, AE). Q1: 250 resolved,
# 30, 260, the 30 deleted, reevaluate (the 260's alert retracted: the
# person's episode goes on), 270: nothing new. N3: reevaluate under alert
# grade 4 retracts the person's grade-3 alert by labwatch, not under
# their name; their resolve stays in its history.
PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
rv() { "$LW" reevaluate --json --protocol-file "${1:-$PROTO}" >>"$TMP/rv.out" 2>&1; }
resolve() { "$LW" resolve "$(q "select max(a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$1' and a.kind = 'toxicity' and a.state = 'open'")" --by dr.chase --note "imatinib held" >/dev/null; }
lwd_start X "$TMP/d.conf"
for c in M1 Q1 N3; do enroll "$c"; done
alt M1 M1a 10 250 && alt M1 M1b 12 260 && alt M1 M1c 11 30 && resolve M1 &&
	alt M1 M1b 12 260 D && rv && alt M1 M1d 14 270 && rv && alt M1 M1e 15 900
alt Q1 Q1a 10 250 && resolve Q1 && alt Q1 Q1b 11 30 && alt Q1 Q1c 12 260 &&
	alt Q1 Q1b 11 30 D && rv && alt Q1 Q1d 14 270
alt N3 N3a 10 250 && resolve N3
# S1: 250 resolved by a person, 30, 100, the 30 corrected to 900 (a late
# escalation: labwatchd opens nothing, README), then reevaluate --until
# before the 900: the person's alert, superseded by an alert outside the
# window that is not stored, was taken for an episode going on, and the
# 14th's 250 raised nothing. Left as it is now: the 250 opens an alert.
enroll S1
alt S1 S1a 10 250 && resolve S1 && alt S1 S1b 11 30 && alt S1 S1c 12 100 &&
	alt S1 S1b 11 900 C &&
	"$LW" reevaluate --json --patient S1 --until 2026-11-10T12:00:00Z --protocol-file "$PROTO" >>"$TMP/rv.out" 2>&1 &&
	alt S1 S1d 14 250
# S2: the person's alert superseded by a grade 4 whose result is then
# corrected to another grade 4; reevaluate links it to the alert that
# stands (it was left linked to the one the correction replaced).
enroll S2
alt S2 S2a 10 250 && resolve S2 && alt S2 S2b 11 900 && alt S2 S2b 11 950 C &&
	"$LW" reevaluate --json --patient S2 --protocol-file "$PROTO" >>"$TMP/rv.out" 2>&1
lwd_stop X
check "S2: the person's alert superseded by the grade 4 that stands, still theirs" eq "$(q "select a.state || ':' || coalesce(a.resolved_by, '-') || ':' || (select b.grade || ':' || b.state from labwatch.alerts b where b.id = a.superseded_by) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'S2' and a.kind = 'toxicity' and a.grade = 3")" "resolved:dr.chase:4:open"
mkdir -p "$TMP/data/protocols"
cp "$top_srcdir/rules/data/"*.conf "$TMP/data/"
sed 's/^alert_grade = 3$/alert_grade = 4/' "$PROTO" >"$TMP/data/protocols/g4.conf"
"$LW" reevaluate --json --patient N3 --protocol-file "$TMP/data/protocols/g4.conf" >"$TMP/n3.out" 2>&1
check "M1, Q1: every message processed, none quarantined" eq "$(q "select string_agg(distinct outcome, ',') from labwatch.messages m where control_id like 'M1%' or control_id like 'Q1%'")" processed
check "M1: the 900 open at grade 4, alone" eq "$(q "select string_agg(a.grade || ':' || a.state, ',' order by a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'M1' and a.kind = 'toxicity' and a.state in ('open', 'acknowledged')")" "4:open"
check "Q1: the person's episode goes on: the 260's alert retracted, the 270 adds nothing" eq "$(got Q1)" "toxicity:3:resolved:dr.chase recovery:0:retracted:- toxicity:3:retracted:-"
check "N3: retracted by labwatch, not under their name" eq "$(q "select a.state || ':' || coalesce(a.resolved_by, '-') || ' ' || string_agg(e.event || ':' || coalesce(e.by, '-'), ',' order by e.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient join labwatch.alert_events e on e.alert = a.id where p.patient_id = 'N3' and a.kind = 'toxicity' group by a.state, a.resolved_by")" "retracted:- trigger:-,resolve:dr.chase,resolve:-"
"$LW" reevaluate --json --dry-run --protocol-file "$PROTO" --patient M1 >"$TMP/m1.out" 2>&1
"$LW" reevaluate --json --dry-run --protocol-file "$PROTO" --patient Q1 >"$TMP/q1.out" 2>&1
check "M1, Q1: reevaluate then finds nothing to change" eq "$(cat "$TMP/m1.out" "$TMP/q1.out" | grep -c '"change"')" 0
check "S1: the 14th's 250 opens an alert after reevaluate --until" eq "$(q "select count(*) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'S1' and a.kind = 'toxicity' and a.state = 'open'")" 1

# Upgrading past 019: person-resolved alerts older code left with no
# ending result (L1: ended by a 30, its recovery line written; L4: going
# on) are marked ended at their own result by the migration, then
# labwatch reevaluate (README, "Upgrading past 019") moves L4's back to
# going on: a later 260 raises a new alert for L1, nothing for L4.
q "create database legacy" >/dev/null
mkdir -p "$TMP/sql018"
for f in "$top_srcdir"/sql/0*.sql; do
	case $f in *"/019_"*) ;; *) cp "$f" "$TMP/sql018/" ;; esac
done
LDB="$LABWATCH_DB dbname=legacy"
lwd_db_conf "$TMP/l18.conf" "db = $LDB connect_timeout=2
sql_dir = $TMP/sql018
spool_path = $PGD/spool-l18"
lwd_db_conf "$TMP/l19.conf" "db = $LDB connect_timeout=2
spool_path = $PGD/spool-l19"
lq() { psql -X -A -t -q -d "$LDB" -c "$1"; }
lwd_start l18 "$TMP/l18.conf"
for c in L1 L4; do
	"$LW" enroll --db "$LDB" "$c" --phase neoadjuvant --since 2026-11-01 >/dev/null
	alt "$c" "${c}A" 20 250
	"$LW" resolve --db "$LDB" "$(lq "select a.id from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$c' and a.kind = 'toxicity'")" --by dr.chase >/dev/null
done
alt L1 L1B 21 30
lwd_stop l18
# What older code left: no ending result on a person's alert.
lq "update labwatch.alerts set resolved_by_observation = null where kind = 'toxicity' and resolved_by is not null" >/dev/null
check "legacy: 018, a recovery line for L1" eq "$(lq "select string_agg(a.kind || ':' || a.state, ' ' order by a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = 'L1' and a.kind in ('toxicity', 'recovery')")" "toxicity:resolved recovery:open"
lwd_start l19 "$TMP/l19.conf"
check "legacy: 019 marks both ended at their own result" eq "$(lq "select count(*) from labwatch.alerts where kind = 'toxicity' and resolved_by = 'dr.chase' and resolved_by_observation = observation")" 2
"$LW" reevaluate --db "$LDB" --json --protocol-file "$top_srcdir/rules/data/protocols/nct04933669.conf" >"$TMP/lre.out" 2>&1
check "legacy: reevaluate moves L4's back to going on (updated), no other change" eq "$(grep '"change"' "$TMP/lre.out" | python3 -c 'import json,sys; print(";".join(sorted("%s %s %s" % (d["change"], d["kind"], d["patient"]) for d in map(json.loads, sys.stdin))))')" "updated toxicity L4"
alt L1 L1C 23 260
alt L4 L4C 23 260
lwd_stop l19
check "legacy: L1's 260 opens a new episode, L4's adds nothing" eq "$(for c in L1 L4; do lq "select string_agg(a.grade || ':' || a.state, ',' order by a.id) from labwatch.alerts a join labwatch.patients p on p.id = a.patient where p.patient_id = '$c' and a.kind = 'toxicity'"; done | paste -sd' ')" "3:resolved,3:open 3:resolved"
check "every legacy message ACKed AA" test ! -s "$TMP/errors"

done_testing
