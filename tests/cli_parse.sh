#!/bin/sh
# labwatch parse: every file form, the JSON interface, errors that do not
# stop the other messages, and inputs built to crash or stall a parser.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
LW="$top_builddir/cli/labwatch"

# A chemistry result as a LIS sends it: LF line ends, UTC offset in OBX-14.
msg() { # control-id value [terminator]
	t=${3:-\\n}
	printf "MSH|^~\\\\&|LIS|MAINLAB|LABWATCH|HOSP|20261120073500+0800||ORU^R01^ORU_R01|%s|P|2.5.1$t" "$1"
	printf "PID|1||123456^^^HOSP^MR~998877^^^NAT^NI||Doe^Jane||19700101|F$t"
	printf "OBR|1|ORD1|FIL1|24323-8^Comprehensive metabolic panel^LN|||20261120070000+0800$t"
	printf "OBX|1|NM|1920-8^AST^LN||%s|U/L|10-40|H|||F|||20261120073000+0800$t" "$2"
	printf "OBX|2|SN|751-8^Neutrophils^LN||<^0.5|10*9/L|1.8-7.5|LL|||F$t"
	printf "OBX|3|ST|777-3^Platelets^LN||PENDING|10*9/L|150-400||||P$t"
}


# 1. LF-terminated message: the documented keys, numbers as numbers.
msg MSG0001 88 >"$TMP/lf.hl7"
"$LW" parse "$TMP/lf.hl7" >"$TMP/lf.json"
check "LF message exits 0" test $? -eq 0
check "LF message keys and values" json_assert "$TMP/lf.json" '
len(L) == 1 and L[0]["control_id"] == "MSG0001" and L[0]["type"] == "ORU^R01"
and L[0]["version"] == "2.5.1" and L[0]["sending_application"] == "LIS"
and L[0]["sending_facility"] == "MAINLAB" and L[0]["charset"] is None
and L[0]["patients"][0]["id"] == "123456"
and [o["value"] for o in L[0]["patients"][0]["observations"]] == [88, 0.5, "PENDING"]'
check "observation fields" json_assert "$TMP/lf.json" '
(lambda o: o["set_id"] == 1 and o["code"] == "1920-8" and o["coding_system"] == "LN"
 and o["text"] == "AST" and o["alt_code"] is None and o["value_type"] == "NM"
 and o["comparator"] is None and o["units"] == "U/L" and o["ref_range"] == "10-40"
 and o["flags"] == "H" and o["status"] == "F"
 and o["observed_at"] == "2026-11-20T07:30:00+08:00")(L[0]["patients"][0]["observations"][0])'
check "SN comparator and OBR-7 fallback" json_assert "$TMP/lf.json" '
(lambda o: o["comparator"] == "<" and o["value"] == 0.5 and o["observed_at"] == "2026-11-20T07:00:00+08:00"
 and o["observed_at_source"] == "obr7")(L[0]["patients"][0]["observations"][1])'

# 2. CRLF and CR terminators give the same JSON as LF (but for the offset).
msg MSG0001 88 '\r\n' >"$TMP/crlf.hl7"
msg MSG0001 88 '\r' >"$TMP/cr.hl7"
"$LW" parse "$TMP/crlf.hl7" >"$TMP/crlf.json"
"$LW" parse "$TMP/cr.hl7" >"$TMP/cr.json"
same_json() { # a b: equal but for the file name
	[ "$(sed 's/"file":"[^"]*"//' "$1")" = "$(sed 's/"file":"[^"]*"//' "$2")" ]
}
check "CRLF same as LF" same_json "$TMP/lf.json" "$TMP/crlf.json"
check "CR same as LF" same_json "$TMP/lf.json" "$TMP/cr.json"

# 3. An MLLP capture of three frames, with junk and a missing final CR.
{
	printf '\0\0\013'; msg CAP1 10 '\r'; printf '\034\r'
	printf '\013'; msg CAP2 20 '\r'; printf '\034'
	printf '\013'; msg CAP3 30 '\r'; printf '\034\r\n'
} >"$TMP/capture.mllp"
"$LW" parse "$TMP/capture.mllp" >"$TMP/capture.json"
check "MLLP capture exits 0" test $? -eq 0
check "MLLP capture: three messages in order" json_assert "$TMP/capture.json" '
[m["control_id"] for m in L] == ["CAP1", "CAP2", "CAP3"]'

# 4. A batch file (FHS/BHS ... BTS/FTS) and raw messages one after another.
{
	printf 'FHS|^~\\&|LIS|MAINLAB\rBHS|^~\\&|LIS|MAINLAB\r'
	msg B1 11 '\r'; msg B2 12 '\r'
	printf 'BTS|2\rFTS|1\r'
} >"$TMP/batch.hl7"
"$LW" parse "$TMP/batch.hl7" >"$TMP/batch.json"
check "batch exits 0" test $? -eq 0
check "batch: two messages" json_assert "$TMP/batch.json" '[m["control_id"] for m in L] == ["B1", "B2"]'

# 5. Standard input, and several files in one call.
msg STDIN1 5 | "$LW" parse - >"$TMP/stdin.json"
check "stdin" json_assert "$TMP/stdin.json" 'L[0]["control_id"] == "STDIN1"'
"$LW" parse "$TMP/lf.hl7" "$TMP/batch.hl7" >"$TMP/two.json"
check "two files" json_assert "$TMP/two.json" '[m["control_id"] for m in L] == ["MSG0001", "B1", "B2"]'

# 6. A bad message between good ones: an error object, the others printed,
#    exit status 1.
{
	msg GOOD1 1
	printf 'MSH|^~\\&|LIS|MAINLAB|||20261120||ORU^R01|BAD1|P|9.9\nPID|1||1\n'
	printf 'MSH|^~\\&|LIS|MAINLAB|||20261120||ORU^R01||P|2.5.1\n'
	msg GOOD2 2
} >"$TMP/mixed.hl7"
"$LW" parse "$TMP/mixed.hl7" >"$TMP/mixed.json"
check "mixed file exits 1" test $? -eq 1
check "mixed file: errors with reason and offset, good ones kept" json_assert "$TMP/mixed.json" '
len(L) == 4 and L[0]["control_id"] == "GOOD1" and L[3]["control_id"] == "GOOD2"
and L[1]["code"] == 203 and "version" in L[1]["error"] and L[1]["control_id"] == "BAD1"
and L[1]["offset"] > 0 and L[2]["code"] == 101 and "MSH-10" in L[2]["error"]'

# 7. Garbage, binary and truncated input: error objects, never a crash.
head -c 5000 /dev/urandom >"$TMP/random.bin"
"$LW" parse "$TMP/random.bin" >"$TMP/random.json"
check "random bytes exit 1" test $? -eq 1
check "random bytes: an error object" json_assert "$TMP/random.json" 'len(L) >= 1 and all("error" in m for m in L)'
printf 'MSH|' >"$TMP/trunc.hl7"
"$LW" parse "$TMP/trunc.hl7" >"$TMP/trunc.json"
check "truncated in MSH-2: error with reason" json_assert "$TMP/trunc.json" 'len(L) == 1 and "MSH-2" in L[0]["error"] and L[0]["code"] == 101'
msg T1 5 | head -c 50 >"$TMP/trunc2.hl7"
"$LW" parse "$TMP/trunc2.hl7" >"$TMP/trunc2.json"
check "truncated before MSH-9: error with reason" json_assert "$TMP/trunc2.json" 'len(L) == 1 and "MSH-9" in L[0]["error"] and L[0]["code"] == 101'
: >"$TMP/empty.hl7"
"$LW" parse "$TMP/empty.hl7" >"$TMP/empty.json"
check "empty file: nothing, exit 0" sh -c "[ \$? -eq 0 ] && [ ! -s $TMP/empty.json ]"
"$LW" parse "$TMP/does-not-exist" >/dev/null 2>"$TMP/nofile.err"
check "missing file exits 2" test $? -eq 2
check "missing file named on stderr" grep -q "does-not-exist" "$TMP/nofile.err"

# 8. ISO 8859-1 comes out as UTF-8.
printf 'MSH|^~\\&|LIS|LAB|||20261120||ORU^R01|L1|P|2.5.1||||||8859/1\rPID|1||42^^^H^MR\rOBR|1\rOBX|1|ST|X^Y^L||Gr\366\337e|||||F\r' >"$TMP/latin1.hl7"
"$LW" parse "$TMP/latin1.hl7" >"$TMP/latin1.json"
check "8859/1 to UTF-8" json_assert "$TMP/latin1.json" 'L[0]["patients"][0]["observations"][0]["value"] == "Gr\u00f6\u00dfe" and L[0]["charset"] == "8859/1"'

# 9. Hostile sizes: a 3 MB field, a million separators, 100,000 OBX.
$PY - "$TMP" <<'EOF'
import sys
d = sys.argv[1]
h = "MSH|^~\\&|LIS|LAB|||20261120||ORU^R01|%s|P|2.5.1\rPID|1||7^^^H^MR\rOBR|1\r"
open(d + "/big.hl7", "w").write(h % "BIG" + "OBX|1|TX|X^Y^L||" + "A" * 3_000_000 + "|||||F\r")
open(d + "/seps.hl7", "w").write(h % "SEPS" + "OBX|1|NM|X^Y^L||" + "|" * 1_000_000 + "\r" + "NTE|1||" + "^" * 1_000_000 + "\r")
with open(d + "/many.hl7", "w") as f:
    f.write(h % "MANY")
    for i in range(100000):
        f.write("OBX|%d|NM|718-7^Hemoglobin^LN||%d|g/L|120-160||||F\r" % (i + 1, 100 + i % 50))
EOF
check "3 MB field" sh -c "timeout 60 $LW parse $TMP/big.hl7 >$TMP/big.json"
check "3 MB field value intact" json_assert "$TMP/big.json" 'len(L[0]["patients"][0]["observations"][0]["value"]) == 3000000'
check "a million separators" sh -c "timeout 60 $LW parse $TMP/seps.hl7 >$TMP/seps.json"
check "a million separators: one message" json_assert "$TMP/seps.json" 'L[0]["control_id"] == "SEPS"'
check "100,000 OBX" sh -c "timeout 60 $LW parse $TMP/many.hl7 >$TMP/many.json"
check "100,000 OBX all extracted" json_assert "$TMP/many.json" 'len(L[0]["patients"][0]["observations"]) == 100000 and L[0]["patients"][0]["observations"][-1]["set_id"] == 100000'

# 10. A regular file is mapped, anything else read: the same bytes out.
#     A mapped file ends where its last page ends, so files of whole pages
#     cut in every kind of token must not be read past their end.
$PY - "$TMP" <<'EOF'
import sys
d = sys.argv[1]
m = ("MSH|^~\\&|LIS|LAB|||20261120073000+0800||ORU^R01|%s|P|2.5.1||||||UNICODE UTF-8\r"
     "PID|1||7^^^H^MR||M\xfcller \xc3\xbc \"q\" \\E\\\r"
     "OBR|1\rOBX|1|NM|X^Y^L||3.42|mg/dL|0.2-1.2||||F|||20261120070000\r")
body = "".join(m % ("MAP%d" % i) for i in range(100)).encode("latin-1")
open(d + "/map.hl7", "wb").write(body + b"OBX|2|ST|X||\x01\x7f\xff\xe2\x82\r")
tails = [b"|", b"\\", b"\\X4", b"\xc3", b"\xf0\x9f\x98", b"20261120073", b"MSH|^~\\&",
         b"\r", b"3.", b"\x0b", b"\x1c", b"OBX|1|NM|X^Y^L||5"]
for i, t in enumerate(tails):
    page = body[:4096 * 3 - len(t)] + t
    assert len(page) == 4096 * 3
    open("%s/page%d.hl7" % (d, i), "wb").write(page)
EOF
"$LW" parse "$TMP/map.hl7" >"$TMP/map-file.json"
sed 's/"file":"[^"]*"//' "$TMP/map-file.json" >"$TMP/map.json"
"$LW" parse - <"$TMP/map.hl7" | sed 's/"file":"[^"]*"//' >"$TMP/map-stdin.json"
cat "$TMP/map.hl7" | "$LW" parse | sed 's/"file":"[^"]*"//' >"$TMP/map-pipe.json"
check "mapped file: valid JSON lines, escapes and U+FFFD" json_assert "$TMP/map-file.json" '
len(L) == 100 and L[0]["control_id"] == "MAP0"
and L[99]["patients"][0]["observations"][0]["value"] == 3.42
and L[99]["patients"][0]["observations"][1]["value"] == "\x01\x7f\ufffd\ufffd\ufffd"'
check "mapped file and redirected stdin: same bytes" cmp "$TMP/map.json" "$TMP/map-stdin.json"
check "mapped file and a pipe: same bytes" cmp "$TMP/map.json" "$TMP/map-pipe.json"
for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
	"$LW" parse "$TMP/page$i.hl7" >"$TMP/page$i.json" 2>/dev/null
	rc=$?
	check "file of whole pages, cut token $i: no crash (exit $rc)" test $rc -le 2
	check "file of whole pages, cut token $i: JSON lines" json_assert "$TMP/page$i.json" 'len(L) >= 3'
done

# 11. Streamed inputs (cli/input.c reads a window of a few MiB).
# An MLLP capture after more than 1 MiB of junk (or NUL padding) is still
# an MLLP capture, as when the whole file was read: the junk one item,
# then every frame (the splitter once decided "raw" after 1 MiB).
$PY - "$TMP" <<'EOF'
import sys
d = sys.argv[1]
frame = lambda i: ("\x0bMSH|^~\\&|LIS|L|LW|H|20261120||ORU^R01|JM%d|P|2.5.1\r"
    "PID|1||J%d^^^HOSP^MR\r\x1c\r" % (i, i)).encode()
frames = b"".join(frame(i) for i in range(3))
open(d + "/junk-mllp.hl7", "wb").write(b"junk line\r" * 120000 + frames)
open(d + "/nul-mllp.hl7", "wb").write(b"\0" * (1 << 21) + frames)
EOF
"$LW" parse "$TMP/junk-mllp.hl7" >"$TMP/junk-mllp.json"
check "1.2 MB of junk, then MLLP frames: the junk, then each frame" json_assert "$TMP/junk-mllp.json" '
len(L) == 4 and L[0]["error"] == "bytes outside MLLP frames" and L[0]["offset"] == 0
and [m["control_id"] for m in L[1:]] == ["JM0", "JM1", "JM2"] and L[1]["offset"] == 1200000'
"$LW" parse - <"$TMP/nul-mllp.hl7" >"$TMP/nul-mllp.json"
check "2 MiB of NUL padding, then MLLP frames: each frame" json_assert "$TMP/nul-mllp.json" '
[m["control_id"] for m in L] == ["JM0", "JM1", "JM2"] and L[0]["offset"] == 2097152'
# One item far longer than the window, through a pipe (64 KiB a read):
# read again from its start after each refill, it took 34 s for 64 MB
# (quadratic); linear, well under a second. Tolerant bound: a loaded
# machine.
$PY -c "
import sys
w = sys.stdout.buffer.write
w(b'MSH|^~\\\\&|LIS|L|LW|H|20261120||ORU^R01|HUGE|P|2.5.1\rPID|1||H1^^^HOSP^MR\r')
note = b'NTE|1||' + b'x' * 1000 + b'\r'
for i in range(64000):
    w(note)
w(b'MSH|^~\\\\&|LIS|L|LW|H|20261120||ORU^R01|AFTER|P|2.5.1\rPID|1||H2^^^HOSP^MR\r')
" | {
	t0=$(date +%s)
	"$LW" parse --max-size 100000000 - >"$TMP/huge.json"
	echo $(($(date +%s) - t0)) >"$TMP/huge.secs"
}
check "a 64 MB message through a pipe: parsed, then the next" json_assert "$TMP/huge.json" '
[m["control_id"] for m in L] == ["HUGE", "AFTER"] and len(L[0]["patients"]) == 1'
check "a 64 MB message through a pipe: $(cat "$TMP/huge.secs") s (< 10)" test "$(cat "$TMP/huge.secs")" -lt 10

# 11b. OBX-1 as written by senders: a number where it reads as one (plain
# digits are copied as they are, the rest read and written as numbers),
# else a string.
{
	printf 'MSH|^~\\&|LIS|L|LW|H|20261120||ORU^R01|SETID|P|2.5.1\rPID|1||P1^^^H^MR\r'
	for s in '' 0 00 01 1 7 20 123456789 1234567890 1.0 +1 -1 ' 1' '1 ' 1a 1e2 99999999999 '1\T\2'; do
		printf 'OBX|%s|NM|X^x^L||5|U||||||F\r' "$s"
	done
} >"$TMP/setid.hl7"
"$LW" parse "$TMP/setid.hl7" | grep -o '"set_id":[^,]*' | tr '\n' ' ' >"$TMP/setid.out"
check "OBX-1 spellings" test "$(cat "$TMP/setid.out")" = '"set_id":null "set_id":0 "set_id":0 "set_id":1 "set_id":1 "set_id":7 "set_id":20 "set_id":123456789 "set_id":1234567890 "set_id":1 "set_id":1 "set_id":-1 "set_id":" 1" "set_id":"1 " "set_id":"1a" "set_id":100 "set_id":99999999999 "set_id":"1&2" '

# 11c. OBX-5 numbers, byte for byte (JSON parsing would not see "1e+21"
# against "1e21", or "5." against "5"): the sender's text is copied only
# where it is what the number writer gives, so every spelling below is
# written as labwatch d5a809e (before the copy) wrote it. Not a number for
# the reader: a string.
{
	printf 'MSH|^~\\&|LIS|L|LW|H|20261120||ORU^R01|VALUES|P|2.5.1\rPID|1||P1^^^H^MR\r'
	for v in 0 -0 0.0 -0.0 +5 .5 5. 5 05 00.5 0.5 -0.5 1e21 1E-5 1e2 0.1e1 \
	    123456789012345 1234567890123456 999999999999999 1000000000000000 \
	    99999999999999.9 12345678901234.5 1234567890123.456 0.0001 0.00001 \
	    0.000123456789012345 3.141592653589793 -12.50 1.10 \
	    0.30000000000000004 1e308 1e309 4.9e-324 12345678901234567890 \
	    ' 42 ' '<0.1' '>=3' '<> 2'; do
		printf 'OBX|1|NM|X^x^L||%s|U||||||F\r' "$v"
	done
	for v in '<^0.5' '>^1e21' '^-0' '=^05' '<=^ 7.50 '; do
		printf 'OBX|1|SN|X^x^L||%s|U||||||F\r' "$v"
	done
} >"$TMP/values.hl7"
"$LW" parse "$TMP/values.hl7" |
    grep -o '"value":[^,]*,"comparator":[^,]*' >"$TMP/values.out"
cat >"$TMP/values.want" <<'EOF'
"value":0,"comparator":null
"value":0,"comparator":null
"value":0,"comparator":null
"value":0,"comparator":null
"value":5,"comparator":null
"value":0.5,"comparator":null
"value":5,"comparator":null
"value":5,"comparator":null
"value":5,"comparator":null
"value":0.5,"comparator":null
"value":0.5,"comparator":null
"value":-0.5,"comparator":null
"value":1e+21,"comparator":null
"value":1e-05,"comparator":null
"value":100,"comparator":null
"value":1,"comparator":null
"value":123456789012345,"comparator":null
"value":1234567890123456,"comparator":null
"value":999999999999999,"comparator":null
"value":1e+15,"comparator":null
"value":99999999999999.9,"comparator":null
"value":12345678901234.5,"comparator":null
"value":1234567890123.456,"comparator":null
"value":0.0001,"comparator":null
"value":1e-05,"comparator":null
"value":0.000123456789012345,"comparator":null
"value":3.141592653589793,"comparator":null
"value":-12.5,"comparator":null
"value":1.1,"comparator":null
"value":0.30000000000000004,"comparator":null
"value":1e+308,"comparator":null
"value":"1e309","comparator":null
"value":"4.9e-324","comparator":null
"value":1.2345678901234567e+19,"comparator":null
"value":42,"comparator":null
"value":0.1,"comparator":"<"
"value":3,"comparator":">="
"value":2,"comparator":"<>"
"value":0.5,"comparator":"<"
"value":1e+21,"comparator":">"
"value":0,"comparator":null
"value":5,"comparator":"="
"value":7.5,"comparator":"<="
EOF
check "OBX-5 number spellings, byte for byte" diff -u "$TMP/values.want" "$TMP/values.out"

# 11d. OBX-14 spellings, byte for byte: leap days (1600, 1900, 2000, 2023,
# 2024), the years 0000 and 9999, offsets -0000 to +1400 and past them,
# fractions, each precision; an invalid one falls back to MSH-7.
{
	printf 'MSH|^~\\&|LIS|L|LW|H|20261120||ORU^R01|TIMES|P|2.5.1\rPID|1||P1^^^H^MR\r'
	for t in 20240229120000 20230229120000 19000301000000 \
	    21000228235959-0500 00000101000000 99991231235959+1400 \
	    20240101120000-0000 20240101120000.1234 20240101120000.12345+0100 \
	    202401011200 2024010112 20240101 202401 2024 20240101120000+1500 \
	    19011231235959 20991231235959 16000229000000 17000229000000 \
	    20240101120000+0060 20240101240000; do
		printf 'OBX|1|NM|X^x^L||5|U|||||F|||%s\r' "$t"
	done
} >"$TMP/times.hl7"
"$LW" parse "$TMP/times.hl7" |
    grep -o '"observed_at":[^,]*,"observed_at_source":[^,]*' >"$TMP/times.out"
cat >"$TMP/times.want" <<'EOF'
"observed_at":"2024-02-29T12:00:00","observed_at_source":"obx14"
"observed_at":"2026-11-20","observed_at_source":"msh7"
"observed_at":"1900-03-01T00:00:00","observed_at_source":"obx14"
"observed_at":"2100-02-28T23:59:59-05:00","observed_at_source":"obx14"
"observed_at":"0000-01-01T00:00:00","observed_at_source":"obx14"
"observed_at":"9999-12-31T23:59:59+14:00","observed_at_source":"obx14"
"observed_at":"2024-01-01T12:00:00+00:00","observed_at_source":"obx14"
"observed_at":"2024-01-01T12:00:00.1234","observed_at_source":"obx14"
"observed_at":"2026-11-20","observed_at_source":"msh7"
"observed_at":"2024-01-01T12:00:00","observed_at_source":"obx14"
"observed_at":"2024-01-01T12:00:00","observed_at_source":"obx14"
"observed_at":"2024-01-01","observed_at_source":"obx14"
"observed_at":"2024-01","observed_at_source":"obx14"
"observed_at":"2024","observed_at_source":"obx14"
"observed_at":"2026-11-20","observed_at_source":"msh7"
"observed_at":"1901-12-31T23:59:59","observed_at_source":"obx14"
"observed_at":"2099-12-31T23:59:59","observed_at_source":"obx14"
"observed_at":"1600-02-29T00:00:00","observed_at_source":"obx14"
"observed_at":"2026-11-20","observed_at_source":"msh7"
"observed_at":"2026-11-20","observed_at_source":"msh7"
"observed_at":"2026-11-20","observed_at_source":"msh7"
EOF
check "OBX-14 spellings, byte for byte" diff -u "$TMP/times.want" "$TMP/times.out"

# 12. Usage errors.
"$LW" parse --bogus >/dev/null 2>&1
check "unknown option exits 2" test $? -eq 2
"$LW" parse --help >"$TMP/help.out"
check "--help documents the forms" grep -q "MLLP" "$TMP/help.out"

done_testing
