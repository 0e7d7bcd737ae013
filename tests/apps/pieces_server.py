"""Test app for `command`: a Content-Length response written in three pieces, each written only once the proxy
has read the one before (nothing left unread in the socket: TIOCOUTQ), so each arrives in a read of its own.

Every response is `<connection number> ` followed by filler, BODY_SIZE bytes in all; the number says whether the
proxy reused a pooled connection. The path picks how the third piece ends:
  /pieces/exact    the body's last bytes, exactly;
  /pieces/overrun  the body's last bytes, then bytes the Content-Length does not cover;
  /pieces/cut      nothing: the connection closes with the body unfinished.
"""

import asyncio
import fcntl
import itertools
import struct
import termios

from unix_serve import serve

BODY_SIZE = 300_000
CONNECTIONS = itertools.count(1)


def unread(fd: int) -> int:
    """Bytes written on this Unix socket that its peer has not read yet."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]


async def read_by_the_proxy(writer: asyncio.StreamWriter) -> None:
    await writer.drain()
    fd = writer.get_extra_info("socket").fileno()
    while unread(fd):
        await asyncio.sleep(0.002)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    number = next(CONNECTIONS)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            body = (b"%d " % number).ljust(BODY_SIZE, b"x")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % BODY_SIZE
                         + body[:1000])
            await read_by_the_proxy(writer)
            writer.write(body[1000:200_000])
            await read_by_the_proxy(writer)
            if path == b"/pieces/cut":
                break
            writer.write(body[200_000:] + (b"HTTP/1.1 200 OK\r\n\r\n" if path == b"/pieces/overrun" else b""))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()


if __name__ == "__main__":
    serve(handle)
