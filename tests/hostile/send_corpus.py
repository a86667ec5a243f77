#!/usr/bin/python3
"""tests/hostile/send_corpus.py PORT DIR TABLE [EVERY [TAG]]: send each case of
the hostile corpus (corpus.py write DIR; TABLE from corpus.py list) to
labwatchd on 127.0.0.1:PORT, each on its own connection, and print one
line per case:

    NAME <TAB> expected <TAB> got <TAB> expected rows <TAB> rows <TAB> ms

"got" is the MSA-1 of each ACK in order joined by "+" (an AE or AR
without an ERR segment is written AE-noERR), or CLOSE when the daemon
closed without answering, TIMEOUT when it did neither in 180 s. Rows are
the quarantined rows the case added to labwatch.messages (psql; the
PG* variables name the database). After the frames of a case the driver
half-closes (the peer is done), except for "never ends" cases.

Every EVERY cases (default 5) a well-behaved sender sends a valid ORU on
its own long-lived connection; it prints "GOOD n AA" or "GOOD n <what>".
"""
import socket
import subprocess
import sys
import time

port, d, tab = int(sys.argv[1]), sys.argv[2], sys.argv[3]
every = int(sys.argv[4]) if len(sys.argv) > 4 else 5
tag = sys.argv[5] if len(sys.argv) > 5 else ""  # control ids GOOD<TAG><n>: one run, one set


def q(sql):
    return subprocess.run(["psql", "-X", "-A", "-t", "-q", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


def quarantined():
    return int(q("select count(*) from labwatch.messages where outcome = 'quarantined'"))


def acks(buf):
    out = []
    for fr in buf.split(b"\x1c")[:-1]:
        segs = fr.strip(b"\r\n\x0b").split(b"\r")
        msa = [s for s in segs if s.startswith(b"MSA|")]
        if not msa:
            out.append("NOMSA")
            continue
        code = msa[0].split(b"|")[1].decode("latin-1")
        if code in ("AE", "AR", "CE", "CR") and not any(s.startswith(b"ERR|") for s in segs):
            code += "-noERR"
        out.append(code)
    return out


def run_case(data, never_ends):
    s = socket.create_connection(("127.0.0.1", port), timeout=180)
    buf = b""
    try:
        s.sendall(data)
        if not never_ends:
            s.shutdown(socket.SHUT_WR)
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    except socket.timeout:
        return "TIMEOUT"
    except OSError as e:  # a reset after the daemon closed: what it sent still counts
        if not buf:
            return "RESET(%s)" % e.__class__.__name__
    finally:
        s.close()
    a = acks(buf)
    return "+".join(a) if a else "CLOSE"


good = {"n": 0, "s": None}
MSG = ("MSH|^~\\&|GOODLIS|MAIN|LW|H|20261120073000||ORU^R01|GOOD%s%d|P|2.5.1\r"
       "PID|1||GOODPAT^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\r"
       "OBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r")


def good_send():
    good["n"] += 1
    n = good["n"]
    try:
        if good["s"] is None:
            good["s"] = socket.create_connection(("127.0.0.1", port), timeout=60)
        s = good["s"]
        s.sendall(b"\x0b" + (MSG % (tag, n)).encode() + b"\x1c\r")
        buf = b""
        while b"\x1c" not in buf:
            b = s.recv(4096)
            if not b:
                raise ConnectionError("closed")
            buf += b
        a = acks(buf)
        cid = ("GOOD%s%d" % (tag, n)).encode()
        ok = a == ["AA"] and (b"MSA|AA|" + cid + b"|" in buf or buf.rstrip(b"\r\x1c").endswith(b"MSA|AA|" + cid))
        print("GOOD %d %s" % (n, "AA" if ok else "+".join(a) or "?"), flush=True)
    except OSError as e:
        good["s"] = None
        print("GOOD %d %s" % (n, e.__class__.__name__), flush=True)


rows = [l.rstrip("\n").split("\t") for l in open(tab)]
good_send()
for i, (name, exp, qexp, size, what) in enumerate(rows):
    before = quarantined()
    t0 = time.monotonic()
    got = run_case(open("%s/%s" % (d, name), "rb").read(), "never ends" in what)
    ms = (time.monotonic() - t0) * 1000
    after = quarantined()
    print("%s\t%s\t%s\t%s\t%d\t%.0f" % (name, exp, got, qexp, after - before, ms), flush=True)
    if (i + 1) % every == 0:
        good_send()
good_send()
