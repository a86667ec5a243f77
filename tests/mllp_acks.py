#!/usr/bin/env python3
# mllp_acks.py: the tests' MLLP sender that reads the ACKs back (lib.sh's
# mllp_acks; daemon_db.sh, daemon_metrics.sh, fault/lost_commit.sh).
#
#   mllp_acks.py PORT [--pause SECONDS] FILE...
#
# On one connection to 127.0.0.1:PORT, each FILE's MLLP frames in one
# write; by default each FILE's ACKs (as many as it has 0x1C) are read
# before the next FILE is sent. With --pause, the next FILE goes SECONDS
# after the one before without waiting for its ACKs (a sender that
# pipelines), and once every ACK came, one more second is read, so that
# an ACK sent twice shows. Prints each ACK's "MSA-1 MSA-2" in the order
# they came ("? ?" for a reply without MSA); exits 1 when the connection
# ended or timed out (60 s) before every ACK came.
import socket
import sys
import time


def acks(buf):
    """The ACKs whole in buf, and the bytes after the last one."""
    parts = buf.split(b"\x1c")
    return parts[:-1], parts[-1]


def msa(frame):
    seg = [x for x in frame.split(b"\r") if x.startswith(b"MSA|")]
    f = seg[0].split(b"|") if seg else [b"", b"?", b"?"]
    return "%s %s" % (f[1].decode(), f[2].decode() if len(f) > 2 else "")


def main():
    args = sys.argv[1:]
    port, pause = int(args.pop(0)), None
    if args and args[0] == "--pause":
        args.pop(0)
        pause = float(args.pop(0))
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    buf, want, ok = b"", 0, True

    def read(n, deadline=None):
        nonlocal buf
        while True:
            whole, rest = acks(buf)
            for f in whole:
                print(msa(f), flush=True)
            buf = rest
            n -= len(whole)
            if n <= 0 and deadline is None:
                return True
            if deadline is not None:
                s.settimeout(max(0.01, deadline - time.time()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                return deadline is not None
            if not d:
                return n <= 0
            buf += d

    for i, path in enumerate(args):
        data = open(path, "rb").read()
        if pause is not None and i > 0:
            time.sleep(pause)
        s.sendall(data)
        want += data.count(b"\x1c")
        if pause is None:
            ok = read(want) and ok
            want = 0
    if pause is not None:
        ok = read(want)
        ok = read(0, time.time() + 1) and ok
    sys.exit(0 if ok else 1)


main()
