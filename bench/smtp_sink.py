"""A local SMTP sink for the send benchmark: accepts every message, counts messages and bytes, and prints
`{"messages": n, "bytes": b}` on stdout when it gets SIGTERM. Run by bench/send_bench.py as its own process
so that receiving does not share the sender's interpreter.

    .venv/bin/python bench/smtp_sink.py --port 2525
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self):
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages += 1
        self.bytes += len(envelope.content or b"")
        return "250 OK"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, lambda: stop.done() or stop.set_result(None))
    loop.run_until_complete(stop)
    controller.stop()
    sys.stdout.write(json.dumps({"messages": counter.messages, "bytes": counter.bytes}) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
