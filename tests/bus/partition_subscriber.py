"""`python -m tests.bus.partition_subscriber URL CHANNEL`: a channel subscription looping on get() in a process of its own.

test_partition runs it so it can measure this process's CPU time and memory while the bus is
cut off. It prints one JSON line per event: ready, message (data), gap (since, until, reason,
gaps), cut off, live.
"""

from __future__ import annotations

import asyncio
import json
import sys

from pysupervise import bus


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def main(url: str, channel: str) -> None:
    client = await bus.connect(url)
    subscription = await client.subscribe(channel).open()
    emit("ready")
    connected = True
    while True:
        try:
            message = await subscription.get(timeout=0.1)
        except bus.MessagesMissed as gap:
            emit("gap", since=gap.since, until=gap.until, reason=gap.reason, gaps=subscription.gaps)
            continue
        if message is not None:
            emit("message", data=message.decode())
        if subscription.connected != connected:
            connected = subscription.connected
            emit("live" if connected else "cut off")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
