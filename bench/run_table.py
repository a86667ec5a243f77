"""bench/run_table.py: bench/run's table, from what the bench/run-* scripts
left in bench/out/; printed, and written into BENCHMARKS.md between the
"bench/run: begin" and "bench/run: end" markers (the text around them is
kept as it is).

    run_table.py TOP FORM STARTED LOAD_BEFORE LOAD_AFTER SECONDS WRITE
"""
import json
import os
import platform
import re
import sys

top, form, started, la0, la1, elapsed, write = sys.argv[1:8]
out = os.path.join(top, "bench", "out")
BEGIN = "<!-- bench/run: begin"
END = "<!-- bench/run: end"


def load(path):
    """The last JSON line of a file, None when absent or unreadable."""
    try:
        with open(os.path.join(out, path)) as f:
            return json.loads(f.read().strip().splitlines()[-1])
    except (OSError, ValueError, IndexError):
        return None


def lines(path):
    try:
        with open(os.path.join(out, path)) as f:
            return f.read().splitlines()
    except OSError:
        return []


def status():
    st = {}
    for l in lines("run/status"):
        name, rc, secs = l.split()
        st[name] = (int(rc), int(secs))
    return st


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo")
                if l.startswith("MemTotal:")), 0)
    osname = "?"
    try:
        osname = next(l.split("=", 1)[1].strip().strip('"')
                      for l in open("/etc/os-release")
                      if l.startswith("PRETTY_NAME="))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, {mem / 1048576:.1f} GiB, "
            f"Linux {platform.release()}, {osname}")


def parse_rows():
    """parse + extract, parse and check as processes: MB/s (msg/s)."""
    r = {k: load(f"{k}.json") for k in ("labwatch", "python", "medplum", "process",
                                         "check_screening", "check_treatment")}

    def cell(j):
        return f"{j['mb_per_s']:,.1f} MB/s ({j['msg_per_s']:,.0f} msg/s)" if j else "-"
    note = ""
    if r["labwatch"] and r["medplum"] and r["python"]:
        lw = r["labwatch"]["mb_per_s"]
        note = (f"{lw / r['medplum']['mb_per_s']:.1f}x @medplum/hl7, "
                f"{lw / r['python']['mb_per_s']:.0f}x python-hl7")
    rows = [("parse + extract, in process (1 core)", cell(r["labwatch"]),
             cell(r["medplum"]), cell(r["python"]), note)]
    for k, name in (("process", "`labwatch parse`, whole process"),
                    ("check_screening", "`labwatch check --phase screening`"),
                    ("check_treatment", "`labwatch check --phase treatment`")):
        n = ""
        if r[k] and r["process"] and k != "process":
            n = f"{100 * r[k]['mb_per_s'] / r['process']['mb_per_s']:.0f}% of parse"
        rows.append((name, cell(r[k]), "-", "-", n))
    return rows


def e2e_rows():
    servers = ("labwatchd", "medplum", "python")
    r = {s: {run: load(f"e2e/{s}-{run}.json") for run in ("c1", "c16", "paced", "idle")}
         for s in servers}

    def load_cell(j):
        if not j:
            return "-"
        lat = j["latency_us"]
        c = (f"{j['msg_per_s']:,.0f} msg/s, p50 {lat['p50'] / 1000:.2f} / "
             f"p99 {lat['p99'] / 1000:.2f} ms")
        if j["sent"] != j["accepted"]:
            c += f" ({j['sent'] - j['accepted']} not accepted)"
        return c

    def verify(run):
        j = r["labwatchd"][run]
        v = (j or {}).get("verify")
        if v is None:
            return ""
        if "error" in v:
            return f"verify failed: {v['error']}"
        if v["missing"] or v["duplicated"]:
            return f"{v['missing']} missing, {v['duplicated']} duplicated"
        return f"labwatchd: {v['checked']:,} AA verified stored once"

    rows = []
    for run, name in (("c1", "end to end, 1 sender (closed loop)"),
                      ("c16", "end to end, 16 senders (closed loop)"),
                      ("paced", "ACK latency, 1,000 msg/s offered over 16 conns")):
        rows.append((name,) + tuple(load_cell(r[s][run]) for s in servers) + (verify(run),))

    def idle_cell(j):
        return f"{j['bytes_per_conn'] / 1024:,.1f} KiB" if j else "-"
    idle = r["labwatchd"]["idle"]
    rows.append(("memory per idle plain connection (RSS)",)
                + tuple(idle_cell(r[s]["idle"]) for s in servers)
                + (f"{idle.get('connections', '?')} connections" if idle else "",))
    return rows


def replay_rows():
    got = {}
    for l in lines("replay/summary.txt"):
        m = re.match(r"^\s+(.+?)\s+([\d,]+) msg/s\s+(.*)$", l)
        if m:
            got[m.group(1)] = (m.group(2), m.group(3))
    rep = next((v for k, v in got.items() if k.startswith("labwatch replay")), None)
    send = next((v for k, v in got.items() if k.startswith("python-hl7")), None)
    ld = next((v for k, v in got.items() if k.startswith("mllp_load")), None)
    note = f"mllp_load@16 on the same labwatchd: {ld[0]} msg/s" if ld else ""
    if rep:
        note = rep[1] + ("; " + note if note else "")
    return [("`labwatch replay` into labwatchd (durable)",
             f"{rep[0]} msg/s" if rep else "-", "-",
             f"{send[0]} msg/s (mllp_send)" if send else "-", note)]


def notify_rows():
    rows = []
    for l in lines("notify/summary-1.txt"):
        f = l.split()
        if len(f) < 6 or not f[-1].replace(".", "").isdigit() or not f[-5].isdigit():
            continue
        name = " ".join(f[:-5])
        rows.append((f"paging: alert commit -> command start, {name}",
                     f"p50 {f[-4]} / p99 {f[-2]} ms", "-", "-",
                     f"{f[-5]} alerts, max {f[-1]} ms"))
    return rows or [("paging: alert commit -> command start", "-", "-", "-", "")]


st = status()
rows = parse_rows() + e2e_rows() + replay_rows() + notify_rows()
hdr = ("benchmark", "labwatch", "@medplum/hl7", "python-hl7", "notes")
table = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
table += ["| " + " | ".join(r) + " |" for r in rows]
steps = ", ".join(f"{k} {v[1]} s" + ("" if v[0] == 0 else f" (exited {v[0]})")
                  for k, v in st.items())
text = [
    f"Run of {started}, {form}: {int(elapsed) / 60:.1f} min ({steps}).",
    "",
    f"Machine: {machine()}; load average {la0} before, {la1} after "
    "(the machine is shared; the load generators and servers share its cores).",
    "",
] + table + [
    "",
    "labwatch's column is the durable path (ACK after COMMIT into a private "
    "PostgreSQL 15, fsync on) for the end-to-end, replay and paging rows; the "
    "peers' servers parse and ACK, storing nothing. Each script's own output, "
    "with more columns, is in bench/out/run/*.log.",
]
print("\n".join(text))

if write == "1":
    path = os.path.join(top, "BENCHMARKS.md")
    doc = open(path).read()
    b, e = doc.find(BEGIN), doc.find(END)
    if b < 0 or e < b:
        sys.exit("bench/run: BENCHMARKS.md has no bench/run markers; not written")
    b = doc.index("\n", b) + 1
    doc = doc[:b] + "\n".join(text) + "\n" + doc[e:]
    with open(path, "w") as f:
        f.write(doc)
    print("\nbench/run: BENCHMARKS.md's generated section written", file=sys.stderr)
