"""Test app for `command`: the keep-alive race, every time.

It answers the first request on each connection and keeps the connection; the next request on it is read and
then dropped, the connection closed without an answer: what a server closing an idle connection does when a
request was already on its way. Each drop is written to $DROPS_FILE as "<pid> <path>" so that a test can see
which worker dropped which request. The process stays alive throughout.
"""

import asyncio
import os

from unix_serve import serve


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The request's path; its body (a Content-Length one) is read and discarded."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)
    return head.split(b" ", 2)[1]


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        path = await read_request(reader)
        payload = b"pid=%d path=%s" % (os.getpid(), path)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
        await writer.drain()
        dropped = await read_request(reader)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
        return
    with open(os.environ["DROPS_FILE"], "ab") as drops:
        drops.write(b"%d %s\n" % (os.getpid(), dropped))
    writer.close()


if __name__ == "__main__":
    serve(handle)
