#!/usr/bin/python3
"""Parse benchmark peer: python-hl7 (Debian python3-hl7).

usage: /usr/bin/python3 python_parse.py CORPUS [MIN_SECONDS]

CORPUS is a raw file from `gen_oru -f raw`. The file is split into messages
before timing; the timed loop parses each message with hl7.parse() and reads
OBX-5 of every OBX as a string, over the corpus again and again until at
least MIN_SECONDS (default 3) have passed. Prints one line of JSON.
"""

import json
import re
import sys
import time

import hl7

# A message starts at an "MSH|" that begins a segment.
MESSAGE_START = re.compile(r"(?:^|(?<=[\r\n]))(?=MSH\|)")


def split_messages(text):
    return [m for m in MESSAGE_START.split(text) if m]


def parse_corpus(messages):
    total = 0
    for text in messages:
        msg = hl7.parse(text)
        for seg in msg.segments("OBX"):
            total += len(str(seg[5]))
    return total


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python_parse.py CORPUS [MIN_SECONDS]")
    min_seconds = float(sys.argv[2]) if len(sys.argv) == 3 else 3.0
    with open(sys.argv[1], "rb") as f:
        raw = f.read()
    messages = split_messages(raw.decode("utf-8"))
    if not messages:
        sys.exit("python_parse.py: no messages in " + sys.argv[1])
    corpus_bytes = sum(len(m.encode("utf-8")) for m in messages)

    parse_corpus(messages[:50])  # warm-up, untimed
    passes = 0
    sink = 0
    start = time.perf_counter()
    while True:
        sink += parse_corpus(messages)
        passes += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            break
    if sink == 0:
        sys.exit("python_parse.py: no OBX-5 values read")

    n = passes * len(messages)
    b = passes * corpus_bytes
    print(json.dumps({
        "peer": "python-hl7",
        "messages": n,
        "bytes": b,
        "seconds": round(elapsed, 3),
        "msg_per_s": round(n / elapsed, 1),
        "mb_per_s": round(b / elapsed / 1e6, 3),
    }))


if __name__ == "__main__":
    main()
