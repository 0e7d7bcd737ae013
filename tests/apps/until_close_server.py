"""Test app for `command`: answers as an HTTP/1.0 server does, with neither Content-Length nor chunked
encoding, so its body ends where it closes the connection (RFC 9112 §6.3, the last rule)."""

import asyncio

from unix_serve import serve

BODY = b"until-close " * 1000


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    for start in range(0, len(BODY), 4000):  # in pieces, as a streaming server writes
        writer.write(BODY[start:start + 4000])
        await writer.drain()
        await asyncio.sleep(0.01)
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    serve(handle)
