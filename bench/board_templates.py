#!/usr/bin/python3
# bench/board_templates.py: the template patients of bench/run-board, sent
# to labwatchd over MLLP (one connection, each message after the previous
# one's AA), so that every row the bench clones is one labwatchd wrote.
#
#   board_templates.py PORT NOW_EPOCH TREAT_VISITS BIG_VISITS
#
# Patients (enrolled beforehand by the bench with labwatch enroll):
#   BT-SE  screening, 3 visits, every criterion met      -> eligible
#   BT-SI  screening, 3 visits, ALT 130 U/L on the last  -> ineligible
#   BT-SN  screening, 2 visits of AST, ALT, bilirubin    -> incomplete
#   BT-TQ  on treatment, TREAT_VISITS weekly panels, normal values
#   BT-TA  on treatment, TREAT_VISITS weekly panels with a grade 3 ALT
#          (a hepatotoxicity hold, then the resume), a platelet and an ANC
#          drop (a myelosuppression hold)
#   BT-BIG on treatment, BIG_VISITS panels (the patient page's case)
# Deterministic: values depend on the visit number only.
import socket
import sys
import time

port, now, tvisits, bvisits = (int(a) for a in sys.argv[1:5])

# analyte: LOINC, unit, OBX-7, a normal value
PANEL = [
    ("ast", "1920-8", "U/L", "10-40", 25),
    ("alt", "1742-6", "U/L", "10-40", 28),
    ("tbil", "1975-2", "umol/L", "3-21", 11),
    ("crea", "2160-0", "umol/L", "45-90", 70),
    ("anc", "751-8", "10*9/L", "1.8-7.5", 3.9),
    ("plt", "777-3", "10*9/L", "150-400", 240),
    ("hgb", "718-7", "g/L", "120-160", 135),
]


def dtm(t):
    return time.strftime("%Y%m%d%H%M%S+0000", time.gmtime(t))


def message(pid, cid, t, values):
    w = dtm(t)
    segs = [
        "MSH|^~\\&|LIS|MAINLAB|LABWATCH|HOSP|%s||ORU^R01^ORU_R01|%s|P|2.5.1" % (w, cid),
        "PID|1||%s^^^HOSP^MR||Doe^Jane||19700101|F" % pid,
        "OBR|1|O%s|F%s|24323-8^CMP^LN|||%s" % (cid, cid, w),
    ]
    for i, (code, unit, rng, v) in enumerate(values, 1):
        segs.append("OBX|%d|NM|%s^X^LN||%s|%s|%s||||F|||%s" % (i, code, v, unit, rng, w))
    return "\r".join(segs) + "\r"


def panel(visit, override=None, only=None):
    out = []
    for name, code, unit, rng, normal in PANEL:
        if only is not None and name not in only:
            continue
        # a little deterministic noise so that the charts are not flat
        v = normal * (1 + 0.08 * (((visit * 7 + len(name)) % 5) - 2) / 2)
        if override and name in override:
            v = override[name]
        out.append((code, unit, rng, ("%.1f" % v) if v < 100 else ("%.0f" % v)))
    return out


def treated(kind, visit):
    if kind != "TA":
        return None
    return {4: {"alt": 226}, 5: {"alt": 150}, 6: {"alt": 60}, 9: {"plt": 40},
            10: {"plt": 60}, 11: {"plt": 160}, 15: {"anc": 0.8},
            16: {"anc": 1.7}}.get(visit)


msgs = []
day = 86400
for kind, visits, only, last in (("SE", 3, None, None), ("SI", 3, None, {"alt": 130}),
                                  ("SN", 2, ("ast", "alt", "tbil"), None)):
    for v in range(visits):
        ov = last if v == visits - 1 else None
        msgs.append(message("BT-" + kind, "BT-%s-%d" % (kind, v),
                            now - (visits - v) * 4 * day, panel(v, ov, only)))
for kind, visits in (("TQ", tvisits), ("TA", tvisits), ("BIG", bvisits)):
    for v in range(visits):
        msgs.append(message("BT-" + kind, "BT-%s-%d" % (kind, v),
                            now - (visits - v) * 7 * day,
                            panel(v, treated("TA" if kind == "BIG" else kind, v % 20))))

s = socket.create_connection(("127.0.0.1", port))
for m in msgs:
    s.sendall(b"\x0b" + m.encode() + b"\x1c\r")
    buf = b""
    while b"\x1c" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("board_templates: labwatchd closed the connection")
        buf += chunk
    if b"MSA|AA|" not in buf:
        sys.exit("board_templates: no AA: %r" % buf[:200])
s.close()
print(len(msgs))
