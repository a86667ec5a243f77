#!/usr/bin/env python3
"""episode_gen.py TABLE OUTDIR: the cases of tests/episode_reload_db.sh.

Each line of TABLE: "PID ANALYTE: EVENT; EVENT; ... | EVENT; ..." (# starts
a comment). EVENT: R<day>=<value> a new result of that day of November 2026
(the value may be "<75", ">150": a comparator), C<k>=<value> a correction
of the k-th R (1-based), D<k> its deletion. Writes OUTDIR/PID.p1 (the
events before "|"), OUTDIR/PID.p2 (after it) and OUTDIR/PID.std (the
results that stand, in time order, as originals: the case judged from
scratch), one ORU^R01 per event, segments ended by CR.
"""
import os
import sys

# LOINC code, unit, reference range (CLINICAL.md)
ANALYTES = {
    "alt": ("1742-6", "U/L", "10-40"),
    "plt": ("777-3", "10*9/L", "150-400"),
    "anc": ("751-8", "10*9/L", "2.0-7.5"),
    "hgb": ("718-7", "g/L", "120-160"),
}


def oru(pid, cid, order, day, analyte, value, status):
    code, unit, ref = ANALYTES[analyte]
    when = "202611%02d090000+0000" % day
    vt = "ST" if value[0] in "<>" else "NM"
    return (
        "MSH|^~\\&|LIS|MAINLAB|LABWATCH|HOSP|%s||ORU^R01^ORU_R01|%s|P|2.5.1\r" % (when, cid)
        + "PID|1||%s^^^HOSP^MR||Doe^Jane||19700101|F\r" % pid
        + "OBR|1|O%s|F%s|24323-8^CMP^LN|||%s\r" % (order, order, when)
        + "OBX|1|%s|%s^X^LN||%s|%s|%s||||%s|||%s\r" % (vt, code, value, unit, ref, status, when)
    )


def main(table, out):
    for line in open(table, encoding="utf-8"):
        line = line.split("#")[0].strip()
        if not line:
            continue
        head, body = line.split(":", 1)
        pid, analyte = head.split()
        results = []  # [day, value, order, standing]
        n = 0
        for phase, part in enumerate(body.split("|")):
            with open(os.path.join(out, "%s.p%d" % (pid, phase + 1)), "w") as f:
                for ev in [e.strip() for e in part.split(";") if e.strip()]:
                    n += 1
                    cid = "%s-%d" % (pid, n)
                    if ev[0] == "R":
                        day, value = ev[1:].split("=")
                        results.append([int(day), value, cid, True])
                        f.write(oru(pid, cid, cid, int(day), analyte, value, "F"))
                    elif ev[0] == "C":
                        k, value = ev[1:].split("=")
                        r = results[int(k) - 1]
                        r[1] = value
                        f.write(oru(pid, cid, r[2], r[0], analyte, value, "C"))
                    elif ev[0] == "D":
                        r = results[int(ev[1:]) - 1]
                        r[3] = False
                        f.write(oru(pid, cid, r[2], r[0], analyte, r[1], "D"))
                    else:
                        sys.exit("episode_gen.py: %s: unknown event %r" % (pid, ev))
        standing = sorted([r for r in results if r[3]], key=lambda r: r[0])
        with open(os.path.join(out, "%s.std" % pid), "w") as f:
            for i, r in enumerate(standing):
                cid = "%s-s%d" % (pid, i)
                f.write(oru(pid, cid, cid, r[0], analyte, r[1], "F"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: episode_gen.py TABLE OUTDIR")
    main(sys.argv[1], sys.argv[2])
