#!/usr/bin/python3
"""End-to-end benchmark peer: python-hl7's asyncio MLLP server (Debian
python3-hl7) that parses each message and answers its ACK, storing nothing.
Loopback only.

usage: /usr/bin/python3 python_server.py PORT

Run it with Debian's interpreter: a python3 earlier on PATH may not see
Debian's hl7 module. Prints "ready" once listening.
"""

import asyncio
import signal
import sys

import hl7.mllp


async def handle(reader, writer):
    try:
        while True:
            # readmessage() returns the message already parsed.
            msg = await reader.readmessage()
            writer.writemessage(msg.create_ack())
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    # The reader decodes as ASCII by default and drops the connection on
    # the first UTF-8 name (MSH-18 UNICODE UTF-8 senders in the corpus);
    # surrogateescape round-trips any byte into the ACK unchanged.
    server = await hl7.mllp.start_hl7_server(
        handle, "127.0.0.1", port, backlog=4096,
        encoding="utf-8", encoding_errors="surrogateescape")
    print("ready", flush=True)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None))
    async with server:
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: python_server.py PORT")
    asyncio.run(main(int(sys.argv[1])))
