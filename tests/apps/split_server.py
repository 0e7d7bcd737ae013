"""Test app for `command`: a small response whose head and body leave in two writes, as aiohttp's FileResponse
sends them, with the test deciding when the body goes.

Once the proxy has read the head (nothing of it is left unread in the socket: SIOCOUTQ), the app creates
$HEAD_READ_FILE; it writes the body once $GATE_FILE exists.
"""

import asyncio
import fcntl
import os
import struct
import termios

from unix_serve import serve

BODY = b"split " * 200


def unread(fd: int) -> int:
    """Bytes written on this Unix socket that its peer has not read yet."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY))
    await writer.drain()
    fd = writer.get_extra_info("socket").fileno()
    while unread(fd):
        await asyncio.sleep(0.005)
    with open(os.environ["HEAD_READ_FILE"], "w"):
        pass
    while not os.path.exists(os.environ["GATE_FILE"]):
        await asyncio.sleep(0.01)
    writer.write(BODY)
    await writer.drain()
    writer.close()


if __name__ == "__main__":
    serve(handle)
