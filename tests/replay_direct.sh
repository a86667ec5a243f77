#!/bin/sh
# labwatch replay --direct into a private PostgreSQL: the same archive
# through labwatchd (network mode) into one empty database and through
# --direct into another gives the same messages, observations and alerts;
# the same archive twice stores nothing the second time, nor after
# labwatchd stored it; SIGKILL then --resume stores every message exactly
# once; two --direct runs at once, and one beside labwatchd, store each
# message once; a broken message in the middle; bad conninfo and a
# missing schema (exit 2, said for people); --batch 1 and --batch 2000 store
# the same rows (a duplicate and a correction inside one batch).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LABWATCHD=${LABWATCHD:-$top_builddir/daemon/labwatchd}
LW="$top_builddir/cli/labwatch"
GEN="$top_builddir/bench/gen_oru"
PROTO="$top_srcdir/rules/data/protocols/nct04933669.conf"
pg_suite rdirect
[ -x "$GEN" ] || { echo "bench/gen_oru not built"; exit 1; }
# Database A is labwatchd's (network mode), B is --direct's.
DBA=$LABWATCH_DB
DBB="host=$PGHOST port=$PGPORT user=$PGUSER dbname=lwdirect"
psql -X -q -c "create database lwdirect" -c "create database lwempty" >/dev/null
for d in "$DBA" "$DBB"; do
	"$LW" migrate --db "$d" --sql-dir "$top_srcdir/sql" >/dev/null 2>&1 || exit 1
done
qa() { psql -X -A -t -q -d "$DBA" -c "$1"; }
qb() { psql -X -A -t -q -d "$DBB" -c "$1"; }
direct() { "$LW" replay --direct --protocol "$PROTO" "$@"; }

# The archive: gen_oru's messages (raw), enrolled patients' results that
# alert (toxicity, then hold and resume as ALT falls back) interleaved
# across patients, and a gzip part; a few non-ORU messages too.
mkdir -p "$TMP/arch"
"$GEN" -n 1200 -s 11 -f raw >"$TMP/arch/a-gen.hl7" 2>/dev/null
tox() { # PATIENT CID WHEN ALT AST
	oru "$1" "$2" "$3" "1742-6|NM|$4|U/L|10-40" "1920-8|NM|$5|U/L|10-40"
}
for k in 1 2 3 4; do
	case $k in 1) alt=30 ast=25 ;; 2) alt=210 ast=140 ;; 3) alt=420 ast=90 ;; 4) alt=35 ast=30 ;; esac
	for p in $(seq 12); do
		tox "E$p" "TX${p}_$k" "2026112${k}0730" "$alt" "$ast"
	done
done >"$TMP/arch/b-tox.hl7"
{ for p in $(seq 12); do tox "E$p" "TZ${p}" 20261126073000 "$((300 + p))" 35; done
  printf 'MSH|^~\\&|LIS|MAINLAB|LW|H|20261127||ADT^A01|ADT1|P|2.5.1\rPID|1||E1^^^H^MR\r'
} | gzip >"$TMP/arch/c-more.gz"
total=$((1200 + 48 + 12 + 1))
for d in "$DBA" "$DBB"; do
	for p in $(seq 12); do
		"$LW" enroll --db "$d" "E$p" --phase neoadjuvant --since 2026-11-01 >/dev/null || exit 1
	done
done

# 1. Network mode into A through labwatchd.
lwd_db_conf "$TMP/d.conf" "migrate = no
log_level = info"
lwd_start d "$TMP/d.conf"
check "labwatchd listens" test -n "$port"
"$LW" replay --port "$port" --connections 4 --timeout 20 "$TMP/arch" >"$TMP/net.out" 2>&1
check "network: exit 0" test $? -eq 0

# 2. --direct into B.
direct --db "$DBB" "$TMP/arch" >"$TMP/direct.out" 2>&1
st=$?
check "direct: exit 0" test $st -eq 0
check "direct: the summary line counts what was stored" grep -q "^replay: $total messages read in .*: stored $((total - 1)), duplicate 0, ignored 1, quarantined 0; not stored 0, broken input 0\$" "$TMP/direct.out"

# The same rows, ids and times of receipt aside: messages by key,
# observations by message and order key, alerts by patient and message
# (with what they point at by key, not by id: an alert resolved names
# the other by its id, in its details and summary, a hold its observation
# in hold_state), eligibility verdicts, enrollments.
snapshot() { # DB FILE
	psql -X -A -t -q -d "$1" >"$2" <<'EOF2'
set search_path = labwatch;
select sending_application, sending_facility, control_id, message_type,
       version, outcome, reason, error_code, ack_code, size,
       encode(sha256, 'hex')
  from messages order by 3, 1, 2;
select m.control_id, p.patient_id,
       (to_jsonb(o) - array['id', 'message', 'patient'])::text t
  from observations o join messages m on m.id = o.message
  join patients p on p.id = o.patient order by 1, 2, 3;
select p.patient_id, m.control_id, om.control_id, ob.order_key,
       regexp_replace((to_jsonb(a) - array['id', 'created_at', 'patient',
        'message', 'observation', 'superseded_by', 'resolved_by_observation',
        'resolved_at', 'acknowledged_at'])::text,
        '(alert |"resolves": )[0-9]+', '\1#', 'g') t,
       (select count(*) from alerts s where s.id = a.superseded_by),
       (select r.kind || ' ' || rm.control_id from alerts r
         join messages rm on rm.id = r.message
        where r.id::text = a.details->>'resolves')
  from alerts a join patients p on p.id = a.patient
  left join messages m on m.id = a.message
  left join observations ob on ob.id = a.observation
  left join messages om on om.id = ob.message
  order by 1, 2, 3, 4, 5;
select p.patient_id, e.protocol, e.status, m.control_id,
       e.criteria::text
  from eligibility e join patients p on p.id = e.patient
  left join messages m on m.id = e.message order by 1, 2, 4, 3, 5;
select p.patient_id, e.protocol, e.phase, e.eligibility_status,
       regexp_replace(e.hold_state::text, '"obs": [0-9]+', '"obs": #', 'g'),
       (select string_agg(h.key || '=' || hm.control_id || ' ' || ho.order_key,
               ',' order by h.key)
          from jsonb_each(e.hold_state) h
          join observations ho on ho.id::text = h.value->>'obs'
          join messages hm on hm.id = ho.message),
       e.baseline::text
  from enrollments e join patients p on p.id = e.patient order by 1, 2;
EOF2
}
snapshot "$DBA" "$TMP/a.rows"
snapshot "$DBB" "$TMP/b.rows"
nalerts=$(qb "select count(*) from labwatch.alerts")
check "the archive alerts ($nalerts alerts, toxicity and hold among them)" sh -c "[ $nalerts -ge 12 ] && [ $(qb "select count(distinct kind) from labwatch.alerts where kind in ('toxicity', 'hold')") -eq 2 ]"
check "network and --direct: the same messages, observations, alerts and verdicts" cmp -s "$TMP/a.rows" "$TMP/b.rows"
if ! cmp -s "$TMP/a.rows" "$TMP/b.rows"; then
	diff "$TMP/a.rows" "$TMP/b.rows" | head -20
fi

# 2b. The size of a batch changes nothing: the archive, plus a message
#     sent twice and a correction (OBX-11 C) of its ALT, with --batch 1
#     (every statement of one row) and --batch 2000 (one transaction:
#     the duplicate inside one INSERT, the correction in the batch of
#     the result it corrects, statements of more than 64 rows reading
#     their arrays by unnest(), store/rows.h) into two empty databases:
#     the same rows, one duplicate counted by each.
cp -r "$TMP/arch" "$TMP/arch2"
{ tox E3 DUP1 20261125073000 520 30
  tox E3 DUP1 20261125073000 520 30
  ORU_STATUS=C tox E3 DUP1 20261125073000 38 30 | sed 's/|DUP1|P|/|DUPC|P|/'
} >"$TMP/arch2/d-dup.hl7"
for n in 1 2000; do
	db="host=$PGHOST port=$PGPORT user=$PGUSER dbname=lwbatch$n"
	psql -X -q -c "create database lwbatch$n" >/dev/null
	"$LW" migrate --db "$db" --sql-dir "$top_srcdir/sql" >/dev/null 2>&1 || exit 1
	for p in $(seq 12); do
		"$LW" enroll --db "$db" "E$p" --phase neoadjuvant --since 2026-11-01 >/dev/null || exit 1
	done
	direct --db "$db" --batch "$n" "$TMP/arch2" >"$TMP/batch$n.out" 2>&1
	check "--batch $n: exit 0, the message sent twice counted once as a duplicate" sh -c "[ $? -eq 0 ] && grep -q '^replay: $((total + 3)) messages read in .*: stored $((total + 1)), duplicate 1, ignored 1, quarantined 0; not stored 0, broken input 0\$' '$TMP/batch$n.out'"
	snapshot "$db" "$TMP/batch$n.rows"
done
qb2000() { psql -X -A -t -q -d "host=$PGHOST port=$PGPORT user=$PGUSER dbname=lwbatch2000" -c "$1"; }
check "--batch 2000: the correction supersedes the ALT it corrects, the duplicate stored once" test "$(qb2000 "select (select count(*) from labwatch.messages where control_id = 'DUP1') || ' ' || (select count(*) from labwatch.observations o join labwatch.observations s on s.id = o.supersedes join labwatch.messages m on m.id = s.message where m.control_id = 'DUP1' and s.analyte = 'alt')")" = "1 1"
check "--batch 2000: more than 1,024 observation rows in its transaction" test "$(qb2000 "select count(*) > 1024 from labwatch.observations")" = t
check "--batch 1 and --batch 2000: the same messages, observations, alerts and verdicts" cmp -s "$TMP/batch1.rows" "$TMP/batch2000.rows"
if ! cmp -s "$TMP/batch1.rows" "$TMP/batch2000.rows"; then
	diff "$TMP/batch1.rows" "$TMP/batch2000.rows" | head -20
fi

# 3. Idempotent: the same archive again with --direct stores nothing;
#    --direct into A after labwatchd stored it stores nothing either.
count_all() { $1 "select (select count(*) from labwatch.messages) || ' ' || (select count(*) from labwatch.observations) || ' ' || (select count(*) from labwatch.alerts)"; }
b_before=$(count_all qb)
direct --db "$DBB" "$TMP/arch" >"$TMP/again.out" 2>&1
check "direct twice: exit 0, every message a duplicate" sh -c "[ $? -eq 0 ] && grep -q 'stored 0, duplicate $total, ignored 0' '$TMP/again.out'"
check "direct twice: no new rows" test "$(count_all qb)" = "$b_before"
a_before=$(count_all qa)
direct --db "$DBA" "$TMP/arch" >"$TMP/after.out" 2>&1
check "direct after labwatchd: exit 0, every message a duplicate" sh -c "[ $? -eq 0 ] && grep -q 'stored 0, duplicate $total, ignored 0' '$TMP/after.out'"
check "direct after labwatchd: no new rows" test "$(count_all qa)" = "$a_before"

# 4. SIGKILL mid-run, then --resume: the checkpoint only covers what
#    was committed, and every message is stored exactly once.
"$GEN" -n 4000 -s 21 -f mllp >"$TMP/big.mllp" 2>/dev/null
# (the binary itself in the background, not a function's subshell, so
# that the signal reaches it)
"$LW" replay --direct --protocol "$PROTO" --db "$DBB" --rate 1000 --batch 64 --resume "$TMP/ck" "$TMP/big.mllp" >/dev/null 2>&1 &
rp=$!
for _ in $(seq 200); do grep -q '^offset [1-9]' "$TMP/ck" 2>/dev/null && break; sleep 0.1; done
sleep 0.5
kill -9 $rp
wait $rp 2>/dev/null
bigkey="sending_application, sending_facility, control_id"
base=$(echo "$b_before" | cut -d' ' -f1)
mid=$(($(qb "select count(*) from labwatch.messages") - base))
off=$(sed -n 's/^offset //p' "$TMP/ck" 2>/dev/null)
check "SIGKILL: stopped midway ($mid stored), a checkpoint at offset ${off:-none}" sh -c "[ $mid -gt 0 ] && [ $mid -lt 4000 ] && [ ${off:-0} -gt 0 ]"
# Every message before the checkpoint is in the database.
head -c "${off:-0}" "$TMP/big.mllp" | "$LW" parse 2>/dev/null | $PY -c "
import json, sys
for l in sys.stdin: print(json.loads(l)['control_id'])" >"$TMP/ck.ids"
nck=$(wc -l <"$TMP/ck.ids")
tr '\n' ',' <"$TMP/ck.ids" | sed "s/,\$//; s/,/','/g; s/^/'/; s/\$/'/" >"$TMP/ck.list"
have=$(qb "select count(*) from labwatch.messages where control_id in ($(cat "$TMP/ck.list"))")
check "SIGKILL: the $nck messages before the checkpoint are all stored" sh -c "[ $nck -gt 0 ] && [ $have -eq $nck ]"
direct --db "$DBB" --resume "$TMP/ck" "$TMP/big.mllp" >"$TMP/resume.out" 2>&1
check "resume: exit 0" test $? -eq 0
check "resume: every message stored exactly once" test "$(qb "select count(*) - $base, count(distinct ($bigkey)) - $base from labwatch.messages")" = "4000|4000"
check "resume: read only what was left" sh -c "grep -o '[0-9]* messages read' '$TMP/resume.out' | awk '{ exit !(\$1 < 4000) }'"
direct --db "$DBB" --resume "$TMP/ck" "$TMP/big.mllp" >"$TMP/done.out" 2>&1
check "resume of a finished run: nothing read" grep -q "^replay: 0 messages read" "$TMP/done.out"

# 4b. The same with --batch 1000 (transactions of up to 1,000 messages,
#     as many as have been read): killed with a batch in flight (not
#     committed, or committed after the checkpoint was written), resumed:
#     every message once.
"$GEN" -n 5000 -s 23 -f mllp >"$TMP/big2.mllp" 2>/dev/null
n0=$(qb "select count(*) from labwatch.messages")
"$LW" replay --direct --protocol "$PROTO" --db "$DBB" --rate 2500 --batch 1000 --resume "$TMP/ck3" "$TMP/big2.mllp" >/dev/null 2>&1 &
rp=$!
for _ in $(seq 300); do grep -q '^offset [1-9]' "$TMP/ck3" 2>/dev/null && break; sleep 0.1; done
kill -9 $rp
wait $rp 2>/dev/null
mid=$(($(qb "select count(*) from labwatch.messages") - n0))
off=$(sed -n 's/^offset //p' "$TMP/ck3" 2>/dev/null)
nck=$(head -c "${off:-0}" "$TMP/big2.mllp" | "$LW" parse 2>/dev/null | wc -l)
check "--batch 1000, SIGKILL: stopped midway ($mid stored), the $nck messages before the checkpoint stored" sh -c "[ $nck -gt 0 ] && [ $mid -ge $nck ] && [ $mid -lt 5000 ]"
direct --db "$DBB" --batch 1000 --resume "$TMP/ck3" "$TMP/big2.mllp" >"$TMP/resume2.out" 2>&1
check "--batch 1000, resume: exit 0, every message stored exactly once" test "$? $(qb "select count(*) - $n0, count(distinct ($bigkey)) - $n0 from labwatch.messages")" = "0 5000|5000"

# Ctrl-C (SIGINT): stops after what the store holds, exit 1, says so,
# and leaves a checkpoint to resume from.
"$LW" replay --direct --protocol "$PROTO" --db "$DBB" --rate 300 --resume "$TMP/ck2" "$TMP/big.mllp" >/dev/null 2>"$TMP/int.err" &
rp=$!
# once something is committed (a checkpoint), however slow the start
for _ in $(seq 200); do grep -q '^offset [1-9]' "$TMP/ck2" 2>/dev/null && break; sleep 0.1; done
kill -INT $rp
wait $rp
st=$?
check "Ctrl-C: exit 1, interrupted, a checkpoint" sh -c "[ $st -eq 1 ] && grep -q '(interrupted)' '$TMP/int.err' && grep -q '^offset [1-9]' '$TMP/ck2'"

# 5. Two --direct runs of one archive at once, and one beside labwatchd
#    (network mode) at once: each message stored once, both runs exit 0,
#    what one stored the other counts as a duplicate.
"$GEN" -n 1500 -s 31 -f mllp >"$TMP/two.mllp" 2>/dev/null
n0=$(qb "select count(*) from labwatch.messages")
direct --db "$DBB" --batch 32 "$TMP/two.mllp" >"$TMP/two1.out" 2>&1 &
p1=$!
direct --db "$DBB" --batch 32 "$TMP/two.mllp" >"$TMP/two2.out" 2>&1
s2=$?
wait $p1
s1=$?
msg2() { oru "$1" "$2" 20261120073000 "1742-6|NM|30|U/L|10-40"; }
stored_of() { sed -n 's/.*: stored \([0-9]*\), duplicate \([0-9]*\),.*/\1 \2/p' "$1"; }
check "two --direct at once: both exit 0" test "$s1 $s2" = "0 0"
check "two --direct at once: each message stored once" test "$(qb "select count(*) - $n0, count(distinct ($bigkey)) - $n0 from labwatch.messages")" = "1500|1500"
check "two --direct at once: stored by one, duplicate for the other" sh -c "[ \$(( $(stored_of "$TMP/two1.out" | cut -d' ' -f1) + $(stored_of "$TMP/two2.out" | cut -d' ' -f1) )) -eq 1500 ] && [ \$(( $(stored_of "$TMP/two1.out" | tr ' ' '+') )) -eq 1500 ]"
# Different messages of the same new patients in two runs at once: each
# patient row once, every message processed (a batch that lost the race
# for a patient row is written again), none quarantined.
for p in $(seq 300); do msg2 "NP$p" "XA$p"; done >"$TMP/xa.hl7"
for p in $(seq 300); do msg2 "NP$p" "XB$p"; done >"$TMP/xb.hl7"
direct --db "$DBB" --batch 8 "$TMP/xa.hl7" >"$TMP/xa.out" 2>&1 &
p1=$!
direct --db "$DBB" --batch 8 "$TMP/xb.hl7" >"$TMP/xb.out" 2>&1
s2=$?
wait $p1
s1=$?
check "same new patients in two runs at once: both exit 0, each patient once, all processed" test "$s1 $s2 $(qb "select count(*), count(distinct patient_id) from labwatch.patients where patient_id like 'NP%'") $(qb "select count(*) from labwatch.messages where control_id ~ '^X[AB][0-9]+$' and outcome = 'processed'")" = "0 0 300|300 600"
n0=$(qa "select count(*) from labwatch.messages")
"$LW" replay --port "$port" --connections 4 --timeout 20 "$TMP/two.mllp" >"$TMP/side1.out" 2>&1 &
p1=$!
direct --db "$DBA" --batch 32 "$TMP/two.mllp" >"$TMP/side2.out" 2>&1
s2=$?
wait $p1
s1=$?
check "--direct beside labwatchd: both exit 0" test "$s1 $s2" = "0 0"
check "--direct beside labwatchd: each message stored once" test "$(qa "select count(*) - $n0, count(distinct ($bigkey)) - $n0 from labwatch.messages")" = "1500|1500"
lwd_stop d
rm -f "$TMP/d.pid"

# 6. A broken message in the middle (a frame cut short): reported with
#    its file and byte offset, the rest stored, exit 1.
msg() { oru "$1" "$2" 20261120073000 "1742-6|NM|30|U/L|10-40"; }
{ printf '\013'; msg F6 DBRK1; printf '\034\r\013MSH|^~\\&|LIS|L|LW|H|2026'
  printf '\013'; msg F6 DBRK3; printf '\034\r'; } >"$TMP/broken.mllp"
off=$( (printf '\013'; msg F6 DBRK1; printf '\034\r') | wc -c)
direct --db "$DBB" "$TMP/broken.mllp" >"$TMP/brk.out" 2>&1
check "broken: exit 1" test $? -eq 1
check "broken: reported with file and offset" grep -q "broken.mllp: offset $off:" "$TMP/brk.out"
check "broken: the messages around it stored" test "$(qb "select count(*) from labwatch.messages where control_id like 'DBRK_'")" -eq 2

# 6b. Where it writes: --db, else the db of --config (labwatchd's file,
#     its protocol too), else LABWATCH_DB.
msg F8 CFG1 >"$TMP/cfg1.hl7"
msg F8 ENV1 >"$TMP/env1.hl7"
printf '[labwatchd]\ndb = %s\nprotocol = %s\nspool_path = %s/nospool\n' "$DBB" "$PROTO" "$TMP" >"$TMP/b.conf"
"$LW" replay --direct --config "$TMP/b.conf" "$TMP/cfg1.hl7" >/dev/null 2>&1
check "--config: its db and protocol used" sh -c "[ $? -eq 0 ] && [ $(qb "select count(*) from labwatch.messages where control_id = 'CFG1'") -eq 1 ] && [ $(qa "select count(*) from labwatch.messages where control_id = 'CFG1'") -eq 0 ]"
direct "$TMP/env1.hl7" >/dev/null 2>&1
check "no --db nor --config: LABWATCH_DB" sh -c "[ $? -eq 0 ] && [ $(qa "select count(*) from labwatch.messages where control_id = 'ENV1'") -eq 1 ]"

# 7. Errors for people: a database that cannot be reached, one without
#    the schema, a usage error; exit 2, nothing stored.
direct --db "host=/nonexistent/socket dbname=none connect_timeout=1" "$TMP/broken.mllp" >"$TMP/bad.out" 2>&1
check "bad conninfo: exit 2, says PostgreSQL cannot be reached" sh -c "[ $? -eq 2 ] && grep -q 'labwatch replay: cannot reach PostgreSQL' '$TMP/bad.out'"
direct --db "host=$PGHOST port=$PGPORT user=$PGUSER dbname=lwempty" "$TMP/broken.mllp" >"$TMP/empty.out" 2>&1
check "no schema: exit 2, says to migrate" sh -c "[ $? -eq 2 ] && grep -q 'labwatch replay: .*labwatch migrate' '$TMP/empty.out'"
"$LW" replay --db "$DBB" "$TMP/broken.mllp" >"$TMP/usage.out" 2>&1
check "--db without --direct: usage, exit 2" sh -c "[ $? -eq 2 ] && grep -q 'go with --direct' '$TMP/usage.out'"
direct --db "$DBB" --protocol /nonexistent.conf "$TMP/broken.mllp" >"$TMP/proto.out" 2>&1
check "a protocol file that cannot be read: exit 2" test $? -eq 2

done_testing
