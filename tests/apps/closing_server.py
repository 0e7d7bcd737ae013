"""Test app for `command`: answers each request, then closes the connection without saying so.

Servers with short keep-alive timeouts do this to idle connections; the proxy must never let
it become the client's problem.
"""

import asyncio
import os

from unix_serve import serve


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    payload = b"pid=%d got=%d" % (os.getpid(), len(body))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    if os.environ.get("CLOSES_FILE"):  # one byte per connection closed, for a test that waits for the close
        with open(os.environ["CLOSES_FILE"], "ab") as closes:
            closes.write(b".")


if __name__ == "__main__":
    serve(handle)
