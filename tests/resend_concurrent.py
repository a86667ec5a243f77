# The same archive sent at once on several connections (a LIS resending on
# a new connection while the first copy is in flight). Prints one line per
# connection: "ok N" (N AA ACKs within the bound) or what went wrong.
import socket, sys, threading, time
port, nconn, n, prefix, bound = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
def msg(i):
    # Known patients (one-round-trip batches) mixed with new ones
    # (batches started in two round trips).
    pid = "SKNOWN%d" % (i % 20) if i % 4 else "%sNEW%d" % (prefix, i)
    return ("MSH|^~\\&|LIS|MAINLAB|LW|H|20261120073000+0800||ORU^R01^ORU_R01|%s%04d|P|2.5.1\r"
            "PID|1||%s^^^H^MR\rOBR|1|O%d|F%d|24323-8^CMP^LN\r"
            "OBX|1|NM|1742-6^ALT^LN||%d|U/L|10-40||||F\r" % (prefix, i, pid, i, i, 20 + i % 30)).encode()
data = b"".join(b"\x0b" + msg(i) + b"\x1c\r" for i in range(n))
out = [None] * nconn
def run(k):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=bound)
        s.sendall(data)
        buf, end = b"", time.time() + bound
        while buf.count(b"\x1c") < n:
            s.settimeout(max(0.1, end - time.time()))
            d = s.recv(65536)
            if not d:
                break
            buf += d
        aa = sum(1 for f in buf.split(b"\x1c")[:n] if b"MSA|AA|" in f)
        out[k] = "ok %d" % aa
    except Exception as e:
        out[k] = "error %s" % type(e).__name__
ts = [threading.Thread(target=run, args=(k,)) for k in range(nconn)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(out))
