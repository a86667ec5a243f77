#!/usr/bin/python3
"""tests/ha/send.py: MLLP senders for the tests of several labwatchd.

  send.py scenario OUT THREADS PORT... < FRAMES
      FRAMES: one "PATIENT<TAB>frame" line per message (the frame's CRs
      as \\r), in each patient's order. A patient's messages go one after
      the other (the next once the last is ACKed), the i-th to
      PORT[i % len(PORT)] (with two ports, alternating between daemons);
      patients are spread over THREADS senders. OUT gets "CODE CONTROL_ID".
  send.py dup OUT THREADS PREFIX N PORT...
      N new messages, each sent at once to every PORT (the same frame on
      each daemon concurrently). OUT gets "CODE CONTROL_ID" per ACK.
  send.py failover OUT THREADS PREFIX SECONDS PORT...
      THREADS senders, sender t at home on PORT[t % len(PORT)], each
      sending new messages for SECONDS; on a broken connection or no ACK
      within 10 s a sender goes to the next port and sends the message
      again. OUT gets "CODE CONTROL_ID" per ACK.
"""
import socket
import sys
import threading
import time

SB, EB = b"\x0b", b"\x1c\r"


class Conn:
    def __init__(self, port):
        self.port = port
        self.s = None
        self.buf = b""

    def ask(self, frame, timeout=30):
        if self.s is None:
            self.s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            self.buf = b""
        self.s.settimeout(timeout)
        self.s.sendall(SB + frame + EB)
        while b"\x1c" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("closed")
            self.buf += d
        ack, self.buf = self.buf.split(b"\x1c", 1)
        self.buf = self.buf[1:] if self.buf.startswith(b"\r") else self.buf
        msa = [x for x in ack.split(b"\r") if x.startswith(b"MSA|")][0].split(b"|")
        return msa[1].decode()

    def close(self):
        if self.s is not None:
            self.s.close()
        self.s = None


def control_id(frame):
    return frame.split(b"\r", 1)[0].split(b"|")[9].decode()


def msg(cid, pid, when, alt):
    return (f"MSH|^~\\&|LIS|MAINLAB|LABWATCH|HOSP|{when}||ORU^R01^ORU_R01|{cid}|P|2.5.1\r"
            f"PID|1||{pid}^^^HOSP^MR||Doe^Jane||19700101|F\r"
            f"OBR|1|O{cid}|F{cid}|24323-8^CMP^LN|||{when}\r"
            f"OBX|1|NM|1742-6^ALT^LN||{alt}|U/L|10-40||||F|||{when}").encode()


def run_threads(n, target):
    ts = [threading.Thread(target=target, args=(t,)) for t in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def scenario(out, nthreads, ports):
    per = {}
    order = []
    for line in sys.stdin.buffer:
        line = line.rstrip(b"\n")
        if not line:
            continue
        pid, frame = line.split(b"\t", 1)
        if pid not in per:
            per[pid] = []
            order.append(pid)
        per[pid].append(frame.replace(b"\\r", b"\r"))
    res, lock = [], threading.Lock()

    def work(t):
        mine = [per[p] for i, p in enumerate(order) if i % nthreads == t]
        conns = [Conn(p) for p in ports]
        k = 0
        while any(k < len(m) for m in mine):
            for m in mine:
                if k < len(m):
                    code = conns[k % len(conns)].ask(m[k])
                    with lock:
                        res.append(f"{code} {control_id(m[k])}")
            k += 1
        for c in conns:
            c.close()

    run_threads(nthreads, work)
    open(out, "w").write("\n".join(res) + "\n")


def dup(out, nthreads, prefix, n, ports):
    res, lock = [], threading.Lock()

    def work(t):
        for i in range(t, n, nthreads):
            frame = msg(f"{prefix}{i}", f"{prefix}P{i % 7}", "20261120083000", 30 + i % 5)
            codes = [None] * len(ports)

            def one(j):
                c = Conn(ports[j])
                codes[j] = c.ask(frame)
                c.close()

            ts = [threading.Thread(target=one, args=(j,)) for j in range(len(ports))]
            for x in ts:
                x.start()
            for x in ts:
                x.join()
            with lock:
                res.extend(f"{c} {prefix}{i}" for c in codes)

    run_threads(nthreads, work)
    open(out, "w").write("\n".join(res) + "\n")


def failover(out, nthreads, prefix, secs, ports):
    res, lock = [], threading.Lock()
    end = time.time() + secs

    def work(t):
        home = t % len(ports)
        c = Conn(ports[home])
        i = 0
        while time.time() < end:
            cid = f"{prefix}{t}-{i}"
            frame = msg(cid, f"{prefix}P{t}-{i % 5}", "20261120083000", 30 + i % 9)
            while True:
                try:
                    code = c.ask(frame, timeout=10)
                    break
                except (OSError, IndexError):
                    c.close()
                    home = (home + 1) % len(ports)
                    c = Conn(ports[home])
                    time.sleep(0.2)
            with lock:
                res.append(f"{code} {cid}")
            i += 1
        c.close()

    run_threads(nthreads, work)
    open(out, "w").write("\n".join(res) + "\n")


def main(a):
    if a[1] == "scenario":
        scenario(a[2], int(a[3]), [int(p) for p in a[4:]])
    elif a[1] == "dup":
        dup(a[2], int(a[3]), a[4], int(a[5]), [int(p) for p in a[6:]])
    elif a[1] == "failover":
        failover(a[2], int(a[3]), a[4], float(a[5]), [int(p) for p in a[6:]])
    else:
        sys.exit("send.py: scenario, dup or failover")


if __name__ == "__main__":
    main(sys.argv)
