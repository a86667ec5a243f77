#!/usr/bin/python3
"""tests/hostile/corpus.py: the hostile-frame corpus (issue 14, item 2).

    corpus.py list            print the table: name, expected answer,
                              expected quarantine rows, what the case is
    corpus.py write DIR       write each case's bytes to DIR/NAME (the bytes
                              go on the wire as they are: framing included)

Deterministic: no clock, a seeded generator; the same table and bytes on
every machine. The expected outcomes are those README.md's "What it does
with a frame" defines:

    AE / AR     one ACK with that MSA-1 and an ERR segment, then the
                connection stays usable (the driver then half-closes)
    AE+AE ...   several frames in one case: their ACKs in order
    CLOSE       no ACK: the frame cannot be answered (cut short); the
                daemon closes once it has stored it
    q=N         quarantine rows the case adds (a whole frame, an abandoned
                one: each is kept with its reason)

Cases marked "never ends" hold the connection open without an end block:
the driver does not half-close and waits for frame_timeout.
"""
import random
import sys

SB, EB, CR = b"\x0b", b"\x1c", b"\r"
PID3 = b"HOSTILEPID"  # must never reach the log
NAME = b"Secretname^Patient"


def msh(cid=b"HCID", extra=b"", ver=b"2.5.1", app=b"LIS", fac=b"MAIN", enc=b"^~\\&", fs=b"|"):
    f = [b"MSH", enc, app, fac, b"LW", b"H", b"20261120073000", b"", b"ORU^R01", cid, b"P", ver]
    return fs.join(f) + extra + CR


def pid(p=PID3, name=NAME):
    return b"PID|1||" + p + b"^^^HOSP^MR||" + name + b"||19700101|F" + CR


OBR = b"OBR|1|O1|F1|24323-8^CMP^LN" + CR


def obx(i=1, val=b"30"):
    return b"OBX|%d|NM|1742-6^ALT^LN||" % i + val + b"|U/L|10-40||||F" + CR


def valid(cid=b"HCID"):
    return msh(cid) + pid() + OBR + obx()


def frame(payload):
    return SB + payload + EB + CR


cases = []  # (name, expected ack, quarantine rows, bytes, description)


def case(name, ack, q, data, what):
    cases.append((name, ack, q, data, what))


def build():
    rnd = random.Random(14)
    full = valid(b"TRUNC")
    # 1. Truncated before any OBX: a whole frame, but no results (or no
    #    MSH-12 / no MSH-9 at all).
    obx_at = full.index(b"OBX|")
    for k in range(30):
        cut = 12 + (obx_at - 12) * k // 30
        data = full[:cut]
        if len(data) < 12:
            continue
        # MSH-12 cut to "2" or "2.": a version labwatch does not take (AR 203).
        ver = data.split(CR)[0].split(b"|")[11:12]
        ack = "AR" if ver in ([b"2"], [b"2."]) else "AE"
        case("trunc-%03d" % cut, ack, 1, frame(data), "valid ORU cut at byte %d, framed" % cut)
    # 2. Cut short: 0x0B and part of a message, then the peer half-closes.
    for k in range(10):
        cut = 1 + len(full) * k // 10
        case("cutshort-%03d" % cut, "CLOSE", 1, SB + full[:cut], "no end block, the peer closes after %d bytes" % cut)
    # 3. Binary: random bytes (no 0x0B/0x1C), with and without a MSH head.
    for k in range(20):
        n = rnd.choice([1, 7, 64, 500, 4096, 65536])
        b = bytes(x for x in rnd.randbytes(n * 2) if x not in (0x0B, 0x1C))[:n]
        head = b"MSH|^~\\&|" if k % 2 else b""
        case("binary-%02d" % k, "AE", 1, frame(head + b), "%d random bytes%s" % (n, " after MSH|^~\\&|" if head else ""))
    # NULs
    case("nul-only", "AE", 1, frame(b"\x00" * 1000), "1000 NUL bytes")
    case("nul-in-msh", "AE", 1, frame(b"MSH|^~\\&|LIS\x00|MAIN|LW|H|2026|\x00|ORU^R01|NUL1|P|2.5.1\r" + pid() + OBR + obx()), "NUL inside MSH-3")
    case("empty", "AE", 1, frame(b""), "an empty frame")
    case("cr-only", "AE", 1, frame(CR * 5000), "5000 CRs")
    case("msh-only", "AE", 1, frame(b"MSH"), "the three letters MSH")
    case("msh-bar", "AE", 1, frame(b"MSH|"), "MSH| and nothing else")
    # 4. Huge fields in keyed fields: AE with ERR 102.
    # At the bound HL7 sets (MSH-10, PID-3.1: 199; MSH-3, MSH-4: 227): AA; one over and far over: AE.
    for n in (199, 227):
        f = msh(b"C" * n) if n == 199 else msh(app=b"A" * n, fac=b"F" * n)
        case("bound-%d" % n, "AA", 0, frame(f + pid(b"P" * 199) + OBR + obx()), "keyed fields of %d bytes: valid" % n)
    for n in (200, 1000, 65536, 1 << 20):
        m = 228 if n == 200 else n
        case("long-msh10-%d" % n, "AE", 1, frame(msh(b"C" * n) + pid() + OBR + obx()), "MSH-10 of %d bytes" % n)
        case("long-msh3-%d" % m, "AE", 1, frame(msh(app=b"A" * m) + pid() + OBR + obx()), "MSH-3 of %d bytes" % m)
        case("long-msh4-%d" % m, "AE", 1, frame(msh(fac=b"F" * m) + pid() + OBR + obx()), "MSH-4 of %d bytes" % m)
        case("long-pid3-%d" % n, "AE", 1, frame(msh() + pid(b"P" * n) + OBR + obx()), "PID-3 of %d bytes" % n)
    for n in (300, 100000):
        case("long-pid3-4-%d" % n, "AE", 1, frame(msh() + b"PID|1||X1^^^" + b"H" * n + b"^MR\r" + OBR + obx()), "PID-3.4 of %d bytes" % n)
    # 5. A million separators.
    # After MSH-12: | ^ ~ add empty fields, components, repetitions (valid:
    # AA); & and \\ make MSH-12 a version labwatch does not take (AR 203).
    for ch, nm in ((b"|", "bar"), (b"^", "caret"), (b"~", "tilde"), (b"&", "amp"), (b"\\", "backslash")):
        ok = ch in b"|^~"
        case("million-%s-msh" % nm, "AA" if ok else "AR", 0 if ok else 1, frame(msh(extra=ch * 1000000) + pid() + OBR + obx()), "1,000,000 %r after MSH-12" % ch)
        case("million-%s-pid3" % nm, "AE", 1, frame(msh() + b"PID|1||" + ch * 1000000 + b"\r" + OBR + obx()), "PID-3 of 1,000,000 %r" % ch)
    case("million-cr", "AE", 1, frame(msh() + CR * 1000000), "MSH and 1,000,000 empty segments")
    case("million-lf", "AE", 1, frame(msh() + b"\n" * 1000000), "MSH and 1,000,000 LFs")
    # 6. Wrong delimiters.
    bad_enc = [b"", b"^", b"^~", b"^~\\", b"^^^^", b"||||", b"\r", b"^~\\&^~\\&^~\\&", b"\x00\x00\x00\x00", b"\xff\xfe\xfd\xfc"]
    # MSH-2 "^~" and "^~\\": fewer encoding characters than four is valid HL7 (AA).
    for k, enc in enumerate(bad_enc):
        ok = enc in (b"^~", b"^~\\")
        case("enc-%02d" % k, "AA" if ok else "AE", 0 if ok else 1, frame(b"MSH|" + enc + b"|LIS|MAIN|LW|H|20261120073000||ORU^R01|ENC%d|P|2.5.1\r" % k + pid() + OBR + obx()), "MSH-2 = %r" % enc)
    for k, fs in enumerate([b"\r", b"\n", b"\x00", b"\xff", b"^", b"A", b"1"]):
        case("fs-%02d" % k, "AE", 1, frame(b"MSH" + fs + b"^~\\&" + fs + b"LIS" + fs + b"MAIN" + fs + b"LW" + fs + b"H" + fs + b"2026" + fs + fs + b"ORU^R01" + fs + b"FS%d" % k + fs + b"P" + fs + b"2.5.1\r" + pid() + OBR + obx()), "field separator %r" % fs)
    case("lowercase-msh", "AE", 1, frame(valid().replace(b"MSH|", b"msh|")), "msh in lower case")
    # One long MSH: MSH-15 (accept ACK type) is then "HOSTILEPID^^^HOSP^MR",
    # not a code: enhanced mode, commit reject (CR with ERR).
    case("segsep-tab", "CR", 1, frame(valid().replace(CR, b"\t")), "segments separated by TAB")
    case("segsep-none", "CR", 1, frame(valid().replace(CR, b"")), "no segment separators at all")
    case("bom", "AE", 1, frame(b"\xef\xbb\xbf" + valid(b"BOM1")), "a UTF-8 BOM before MSH")
    case("space-msh", "AE", 1, frame(b" " + valid(b"SP1")), "a space before MSH")
    # 7. Invalid UTF-8 (declared UNICODE UTF-8) and bytes outside ASCII (undeclared), in keyed fields.
    bad_utf8 = [b"\xc3", b"\xc3(", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xe2\x82", b"\xf0\x28\x8c\xbc", b"\xf0\x90\x28\xbc",
                b"\xf8\xa1\xa1\xa1\xa1", b"\xfc\xa1\xa1\xa1\xa1\xa1", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xff", b"\xfe"]
    utf = b"||||||UNICODE UTF-8"
    for k, s in enumerate(bad_utf8):
        case("utf8-pid3-%02d" % k, "AE", 1, frame(msh(extra=utf) + pid(b"MRN" + s) + OBR + obx()), "PID-3 with %r under UNICODE UTF-8" % s)
        case("utf8-msh10-%02d" % k, "AE", 1, frame(msh(b"U" + s, extra=utf) + pid() + OBR + obx()), "MSH-10 with %r under UNICODE UTF-8" % s)
        case("ascii-msh3-%02d" % k, "AE", 1, frame(msh(app=b"L" + s) + pid() + OBR + obx()), "MSH-3 with %r, no MSH-18" % s)
    # 8. 0x1C and 0x0B inside data.
    v = valid(b"EBIN")
    for k, at in enumerate((3, 9, 40, v.index(b"PID|") + 2)):
        case("eb-inside-%02d" % k, "AE", 1, SB + v[:at] + EB + v[at:] + EB + CR, "0x1C at byte %d: the frame ends there, the rest is junk" % at)
    for k, at in enumerate((3, 9, 40, v.index(b"PID|") + 2, v.index(b"OBX|") + 5)):
        case("sb-inside-%02d" % k, "AE", 2, SB + v[:at] + SB + v[at:] + EB + CR, "0x0B at byte %d: the first part is cut short, the rest a frame without MSH" % at)
    # Each 0x0B cuts the frame before it short: 100,000 empty abandoned
    # frames, each kept (nothing dropped), their log lines throttled.
    case("sb-run", "CLOSE", 100000, SB * 100000, "100,000 start blocks, never an end")
    case("eb-run", "CLOSE", 0, EB * 100000, "100,000 end blocks outside any frame (junk)")
    case("eb-cr-run", "CLOSE", 0, (EB + CR) * 50000, "50,000 end-block CR pairs outside frames")
    # 9. Escapes: nested, unterminated, in keyed fields and values.
    escs = [b"\\", b"\\E", b"\\E\\E\\", b"\\X", b"\\X4", b"\\XZZ\\", b"\\X" + b"41" * 5000 + b"\\", b"\\H\\\\N\\", b"\\Z" + b"A" * 10000,
            b"\\E\\\\E\\\\E\\" * 1000, b"\\.br\\", b"\\C2842\\", b"\\M2442\\", b"\\" * 10001, b"\\S\\\\T\\\\R\\\\F\\"]
    # An escape labwatch cannot decode is kept as written (AA); one that
    # decodes past the field's bound (or a formatting escape, \\.br\\, in a
    # key) is AE 102.
    for k, e in enumerate(escs):
        ok = k not in (6, 8, 9, 10, 13)
        ack, q = ("AA", 0) if ok else ("AE", 1)
        case("esc-pid3-%02d" % k, ack, q, frame(msh() + pid(b"E" + e) + OBR + obx()), "PID-3 with escape %r" % e[:24])
        case("esc-msh10-%02d" % k, ack, q, frame(msh(b"X" + e) + pid() + OBR + obx()), "MSH-10 with escape %r" % e[:24])
    # 10. Structure: results without PID, OBX without OBR, bad version, big counts.
    case("versions-99", "AR", 1, frame(msh(ver=b"9.9") + pid() + OBR + obx()), "MSH-12 = 9.9")
    case("versions-empty", "AE", 1, frame(msh(ver=b"") + pid() + OBR + obx()), "MSH-12 empty")
    case("versions-long", "AR", 1, frame(msh(ver=b"2" * 100000) + pid() + OBR + obx()), "MSH-12 of 100,000 bytes")
    case("no-pid3", "AE", 1, frame(msh() + b"PID|1||\r" + OBR + obx()), "PID-3 empty")
    case("no-msh10", "AE", 1, frame(msh(b"") + pid() + OBR + obx()), "MSH-10 empty")
    case("obx-first", "AE", 1, frame(msh() + obx() + pid() + OBR), "OBX before PID")
    case("obx-100000", "AE", 1, frame(msh(b"OBX100K") + pid() + OBR + b"".join(obx(i) for i in range(1, 100001))), "100,000 OBX")
    # 100,000 patients, one result: a valid message (AA), stored once.
    case("pid-100000", "AA", 0, frame(msh(b"PID100K") + b"".join(pid(b"P%d" % i) for i in range(100000)) + OBR + obx()), "100,000 PID")
    # 11 MB: over max_message_size.
    case("pid-obx-100000", "AR", 1, frame(msh(b"PO100K") + b"".join(pid(b"P%d" % i) + obx() for i in range(100000))), "100,000 PID each with an OBX")
    case("seg-100000", "AA", 0, frame(valid(b"ZSEG") + b"ZZZ|1\r" * 100000), "100,000 Z segments")
    case("nine-mib", "AR", 1, frame(msh(b"NINEMIB") + pid() + OBR + obx() + b"NTE|1||" + b"x" * (9 << 20) + CR), "a 9 MiB frame")
    case("eight-mib-plus1", "AR", 1, frame((msh(b"EIGHT") + pid() + OBR + obx() + b"NTE|1||").ljust((8 << 20) + 1, b"y")), "a frame one byte over 8 MiB")
    case("never-ends", "CLOSE", 1, SB + valid(b"NEVER"), "never ends: the peer sends no end block and keeps the connection")
    case("many-frames-bad", "AE" + "+AE" * 49, 50, b"".join(frame(b"MSH|^~\\&|" + bytes([65 + i % 26]) * 10) for i in range(50)), "50 bad frames back to back on one connection")


def table():
    for name, ack, q, data, what in cases:
        yield name, ack or "?", q, len(data), what


if __name__ == "__main__":
    build()
    if sys.argv[1:2] == ["list"]:
        for row in table():
            print("%s\t%s\t%d\t%d\t%s" % row)
    elif sys.argv[1:2] == ["write"] and len(sys.argv) == 3:
        for name, ack, q, data, what in cases:
            with open("%s/%s" % (sys.argv[2], name), "wb") as f:
                f.write(data)
    else:
        sys.exit(__doc__)
