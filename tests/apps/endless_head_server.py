"""Test app for `command`: answers a request with a response head that never ends (one endless header line).

A worker bug the proxy must contain: without a bound on response heads, the master would buffer it
until upstream_timeout.
"""

import asyncio

from unix_serve import serve

PIECE = b"a" * 65536


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
    try:
        while True:
            writer.write(PIECE)
            await writer.drain()
    except (ConnectionError, OSError):
        writer.close()  # the proxy gave up on us


if __name__ == "__main__":
    serve(handle)
