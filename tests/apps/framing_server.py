"""Test app for `command`: GET /framing/<seed> answers framing_cases.case(seed), each of its pieces written once the
proxy has read the one before (nothing left unread in the socket: TIOCOUTQ), so each arrives in a read of its own."""

import asyncio
import fcntl
import struct
import termios
import time

from framing_cases import case
from unix_serve import serve


def unread(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0"))[0]


async def read_by_the_proxy(writer: asyncio.StreamWriter) -> None:
    await writer.drain()
    fd = writer.get_extra_info("socket").fileno()
    deadline = time.monotonic() + 2  # a proxy that stopped reading (it dropped this connection) is not waited for
    while unread(fd) and time.monotonic() < deadline:
        await asyncio.sleep(0.001)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            answer = case(int(head.split(b" ", 2)[1].rsplit(b"/", 1)[1]))
            for piece in answer.pieces():
                writer.write(piece)
                await read_by_the_proxy(writer)
            if answer.closes:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    writer.close()


if __name__ == "__main__":
    serve(handle)
