#!/usr/bin/python3
"""tests/hostile/crowd.py: slow and idle peers, and a well-behaved sender.

    crowd.py attack PORT NSLOW NIDLE NADDR SECONDS READYFILE
        Until SECONDS have passed or READYFILE.stop exists: NSLOW connections trickle a frame one byte every 3 s (slowloris),
        NIDLE send nothing; they come from NADDR loopback addresses
        (127.0.x.y) and each is reopened as soon as labwatchd closes it.
        READYFILE is written once all are open; at the end one line:
        "attack: opened N, closed by the daemon M, connect failures F".
    crowd.py good PORT N TAG
        N valid ORU^R01 frames, one at a time (20 ms apart), on a
        connection reopened every 50 frames; one line:
        "TAG: N frames, A AA, p50 X ms, p99 Y ms, max Z ms" and exit 1
        unless every frame was ACKed AA with its own control id.

    CROWD_TRACE=FILE (either command): one line appended per good frame
    ("TAG good WALL_TIME LATENCY_MS") and per attack connection closed by
    labwatchd ("attack closed WALL_TIME"), to lay the latencies beside
    what the attack did when (how TESTING.md's crowd figures were read).
"""
import os
import selectors
import socket
import sys
import time

SB, EB = b"\x0b", b"\x1c\r"
TRACE = open(os.environ["CROWD_TRACE"], "a") if os.environ.get("CROWD_TRACE") else None


def trace(line):
    if TRACE:
        TRACE.write(line + "\n")
        TRACE.flush()


def frame(cid):
    return (SB + b"MSH|^~\\&|CROWDLIS|MAIN|LW|H|20261120073000||ORU^R01|" + cid.encode()
            + b"|P|2.5.1\rPID|1||CROWDPAT^^^HOSP^MR\rOBR|1|O1|F1|24323-8^CMP^LN\r"
            + b"OBX|1|NM|1742-6^ALT^LN||30|U/L|10-40||||F\r" + EB)


def attack(port, nslow, nidle, naddr, secs, ready):
    sel = selectors.DefaultSelector()
    sent = {}
    st = {"opened": 0, "closed": 0, "failed": 0}
    srcs = ["127.0.%d.%d" % (1 + i // 250, 2 + i % 250) for i in range(naddr)]
    payload = frame("SLOWLORIS")

    def open_one(src, slow):
        s = socket.socket()
        s.setblocking(False)
        s.bind((src, 0))
        if s.connect_ex(("127.0.0.1", port)) not in (0, 115):
            st["failed"] += 1
            s.close()
            return
        sel.register(s, selectors.EVENT_READ, (src, slow))
        sent[s] = 0
        st["opened"] += 1

    for i in range(nslow + nidle):
        open_one(srcs[i % naddr], i < nslow)
    open(ready, "w").write("%d\n" % len(sent))
    t_end = time.time() + secs
    slots, k = 30, 0  # one byte every 3 s: a tenth of the slow ones every 0.1 s
    while time.time() < t_end and not os.path.exists(ready + ".stop"):
        for key, _ in sel.select(0.1):
            s = key.fileobj
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d == b"":
                st["closed"] += 1
                trace("attack closed %.3f" % time.time())
                sel.unregister(s)
                del sent[s]
                s.close()
                open_one(*key.data)
        k = (k + 1) % slots
        for i, key in enumerate(list(sel.get_map().values())):
            if key.data[1] and i % slots == k:
                s = key.fileobj
                try:
                    s.send(payload[sent[s] % len(payload):][:1])
                    sent[s] += 1
                except OSError:
                    pass
    secs = secs - (t_end - time.time())
    print("attack: %d slow + %d idle from %d addresses for %d s: opened %d, closed by the daemon %d, "
          "connect failures %d" % (nslow, nidle, naddr, secs, st["opened"], st["closed"], st["failed"]))


def good(port, n, tag):
    lat, ok, bad, s = [], 0, [], None
    for i in range(n):
        cid = "%s%d" % (tag, i)
        t0 = time.monotonic()
        try:
            if s is None or i % 50 == 0:
                if s:
                    s.close()
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(frame(cid))
            buf = b""
            while EB not in buf and not buf.endswith(b"\x1c"):
                d = s.recv(4096)
                if not d:
                    raise ConnectionError("closed")
                buf += d
            a = buf.split(b"MSA|")[1].split(b"\r")[0].split(b"|")
            if a[0] == b"AA" and a[1] == cid.encode():
                ok += 1
            else:
                bad.append(a[:2])
        except OSError as e:
            bad.append(repr(e))
            s = None
        lat.append((time.monotonic() - t0) * 1000)
        trace("%s good %.3f %.2f" % (tag, time.time() - lat[-1] / 1000, lat[-1]))
        time.sleep(0.02)
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    print("%s: %d frames, %d AA, p50 %.2f ms, p99 %.2f ms, max %.2f ms" % (tag, n, ok, pct(0.5), pct(0.99), lat[-1]))
    if bad:
        print("  not AA:", bad[:5])
    return 0 if ok == n else 1


if __name__ == "__main__":
    if sys.argv[1] == "attack":
        attack(*(int(x) for x in sys.argv[2:7]), sys.argv[7])
    elif sys.argv[1] == "good":
        sys.exit(good(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
    else:
        sys.exit(__doc__)
