#!/usr/bin/env python3
# reset_peer.py PORT MODE COUNT PREFIX: COUNT connections to labwatchd; on
# each, a whole frame PREFIXwN first, its ACK read (so the connection is
# accepted and being read: data that a reset overtakes in the kernel's
# queues never reached labwatchd, and proves nothing), then frame PREFIXN
# and a reset (RST: SO_LINGER 0, then close) at a bad moment:
#   half    half of the frame sent (its MSH-10 included), 50 ms, reset
#   unread  the whole frame sent, reset at once, its ACK never read
# The patient is FAULTRST (not enrolled). Prints "MODE sent N warm-AA M"
# and exits 0 when every connection was made.
import socket
import struct
import sys
import time

port, mode, count, prefix = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]


def frame(cid):
    msg = ("MSH|^~\\&|RSTLIS|RSTLAB|LABWATCH|HOSP|20261120073000+0800||ORU^R01^ORU_R01|%s|P|2.5.1\r"
           "PID|1||FAULTRST^^^H^MR\rOBR|1|O%s|F%s|24323-8^CMP^LN|||20261120073000+0800\r"
           "OBX|1|NM|1742-6^ALT^LN||31|U/L|10-40||||F|||20261120073000+0800\r" % (cid, cid, cid))
    return b"\x0b" + msg.encode() + b"\x1c\r"


def ack(s):
    buf = b""
    while b"\x1c" not in buf:
        d = s.recv(4096)
        if not d:
            return ""
        buf += d
    msa = [x for x in buf.split(b"\r") if x.startswith(b"MSA|")]
    return msa[0].split(b"|")[1].decode() if msa else ""


sent = warm = 0
for i in range(1, count + 1):
    data = frame("%s%d" % (prefix, i))
    for attempt in range(100):  # the daemon may be restarting: retry a connect
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except OSError:
            time.sleep(0.1)
    else:
        print("%s: cannot connect" % mode, file=sys.stderr)
        sys.exit(1)
    try:
        s.sendall(frame("%sw%d" % (prefix, i)))
        if ack(s) == "AA":
            warm += 1
        s.sendall(data[: len(data) // 2] if mode == "half" else data)
        sent += 1
        if mode == "half":
            time.sleep(0.05)  # the half frame is read before the reset
    except OSError:
        pass
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
print("%s sent %d warm-AA %d" % (mode, sent, warm))
