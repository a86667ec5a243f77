#!/usr/bin/env python3
# lost_commit.py: the helpers of tests/fault/lost_commit.sh.
#
#   lost_commit.py proxy LISTEN_DIR UPSTREAM_DIR PORT MARKER=MODE...
#     A PostgreSQL proxy between Unix sockets (LISTEN_DIR/.s.PGSQL.PORT to
#     UPSTREAM_DIR/.s.PGSQL.PORT) that reads the protocol's messages and
#     loses one COMMIT's answer per MARKER: once a client's message holds
#     MARKER (a control id in a batch's INSERT), its next COMMIT (a Parse
#     of "COMMIT", or the Bind of the one-statement batch "ins_new*",
#     committed by its Sync) is
#       after   forwarded, the server's answer withheld until its
#               ReadyForQuery (committed), then both connections closed:
#               stored, but the client never hears so
#       before  not forwarded, both connections closed: the server rolls
#               the transaction back, nothing stored
#       down    as after, and from then on every connection refused
#               (the database gone for good)
#       slow    forwarded 1.5 s late (the writer waits for its answer
#               while frames queue behind it: one batch of them)
#       afterfail  as after, and the next 4 queries sel_stored (labwatchd
#               asking which frames of the lost COMMIT are stored) are
#               answered with an ErrorResponse, the connection kept: the
#               Bind names statement "sel_storeX", which does not exist
#               (SQLSTATE 26000)
#     Prints "dropped MARKER MODE commit|ins_new status S" (S: the
#     transaction status of the withheld ReadyForQuery, I when committed;
#     "-" for before) when it does; "failed sel_stored N" for each query
#     it fails (N left after it), "asked sel_stored" for the others.
#   lost_commit.py limited BYTES CMD...
#     CMD with the files it writes limited to BYTES (RLIMIT_FSIZE, SIGXFSZ
#     ignored: a write past it fails with EFBIG): a spool that cannot take
#     a frame, without root. Its stderr is copied through a pipe (the log
#     file is not limited); SIGTERM and SIGINT are passed on; exits as CMD.
import os
import resource
import signal
import subprocess
import socket
import struct
import sys
import threading
import time

lock = threading.Lock()
fired = set()
gone = []  # a "down" marker fired: connections refused
fail_stored = [0]  # sel_stored queries still to fail ("afterfail")


def say(msg):
    with lock:
        print(msg, flush=True)


class Pair:
    def __init__(self, client, upstream, rules):
        self.c, self.u, self.rules = client, upstream, rules
        self.marker = self.mode = None
        self.hold = False  # the server's answer is withheld
        self.what = ""
        self.gone = False

    def close(self):
        self.gone = True
        for s in (self.c, self.u):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def cstrings(body, n):
    """The first n NUL-terminated strings of a message body."""
    out, pos = [], 0
    for _ in range(n):
        end = body.find(b"\0", pos)
        if end < 0:
            break
        out.append(body[pos:end])
        pos = end + 1
    return out


def target(t, body):
    """Whether a frontend message commits a batch: COMMIT, or ins_new*."""
    if t == b"P":
        s = cstrings(body, 2)
        return "commit" if len(s) == 2 and s[1].strip().upper() == b"COMMIT" else None
    if t == b"B":
        s = cstrings(body, 2)
        return "ins_new" if len(s) == 2 and s[1].startswith(b"ins_new") else None
    return None


def messages(sock, startup):
    """The protocol's messages as they come: (type, whole message)."""
    buf = b""
    while True:
        while True:
            if startup:  # no type byte: length, then code
                if len(buf) < 8:
                    break
                n = struct.unpack("!I", buf[:4])[0]
                if len(buf) < n:
                    break
                code = struct.unpack("!I", buf[4:8])[0]
                # SSL and GSS requests (not on Unix sockets) come first
                startup = code in (80877103, 80877104)
                yield b"", buf[:n]
                buf = buf[n:]
                continue
            if len(buf) < 5:
                break
            n = struct.unpack("!I", buf[1:5])[0]
            if len(buf) < 1 + n:
                break
            yield buf[:1], buf[: 1 + n]
            buf = buf[1 + n :]
        try:
            d = sock.recv(65536)
        except OSError:
            return
        if not d:
            return
        buf += d


def bind_of(t, body, stmt):
    """Whether a frontend message binds prepared statement stmt."""
    return t == b"B" and cstrings(body, 2)[1:] == [stmt]


def client_side(p):
    for t, msg in messages(p.c, True):
        body = msg[5:]
        if bind_of(t, body, b"sel_stored"):
            with lock:
                left = fail_stored[0]
                fail_stored[0] = max(0, left - 1)
            if left > 0:
                # the same length: no other byte of the message moves
                msg = msg.replace(b"\0sel_stored\0", b"\0sel_storeX\0", 1)
                say("failed sel_stored %d" % (left - 1))
            else:
                say("asked sel_stored")
        if p.marker is None:
            for marker, mode in p.rules:
                with lock:
                    if marker in fired or marker.encode() not in body:
                        continue
                    fired.add(marker)
                    if mode == "afterfail":
                        fail_stored[0] = 4
                p.marker, p.mode = marker, "after" if mode == "afterfail" else mode
                break
        if p.marker is not None and not p.what:
            what = target(t, body)
            if what and p.mode == "before":
                say("dropped %s before %s status -" % (p.marker, what))
                p.close()
                return
            if what and p.mode == "slow":
                say("delayed %s %s" % (p.marker, what))
                p.what = what
                time.sleep(1.5)
            elif what:
                p.what = what
                p.hold = True  # before it leaves: its answer is ours
        try:
            p.u.sendall(msg)
        except OSError:
            break
    p.close()


def server_side(p):
    for t, msg in messages(p.u, False):
        if p.hold:
            if t == b"Z":
                if p.mode == "down":
                    gone.append(p.marker)
                say("dropped %s after %s status %s" % (p.marker, p.what, msg[5:6].decode()))
                p.close()
                return
            continue
        try:
            p.c.sendall(msg)
        except OSError:
            break
    p.close()


def proxy(listen_dir, upstream_dir, port, rules):
    path = os.path.join(listen_dir, ".s.PGSQL.%d" % port)
    if os.path.exists(path):
        os.unlink(path)
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    os.chmod(path, 0o777)
    ls.listen(64)
    say("listening on %s" % path)
    while True:
        c, _ = ls.accept()
        if gone:
            c.close()
            continue
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            u.connect(os.path.join(upstream_dir, ".s.PGSQL.%d" % port))
        except OSError:
            c.close()
            continue
        p = Pair(c, u, rules)
        threading.Thread(target=client_side, args=(p,), daemon=True).start()
        threading.Thread(target=server_side, args=(p,), daemon=True).start()


def limited(nbytes, cmd):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    child = subprocess.Popen(cmd, stderr=subprocess.PIPE, preexec_fn=limit)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda n, f: child.send_signal(n))
    for line in iter(child.stderr.readline, b""):
        sys.stderr.buffer.write(line)
        sys.stderr.flush()
    sys.exit(child.wait())


if __name__ == "__main__":
    if sys.argv[1] == "proxy":
        proxy(sys.argv[2], sys.argv[3], int(sys.argv[4]), [r.split("=", 1) for r in sys.argv[5:]])
    elif sys.argv[1] == "limited":
        limited(int(sys.argv[2]), sys.argv[3:])
    else:
        sys.exit("usage: lost_commit.py proxy DIR UPSTREAM PORT MARKER=MODE... | limited BYTES CMD...")
