"""Length-prefixed pickled messages on a Unix socketpair between the master and a front it started.

Pickle is safe here only because both ends are pysupervise processes of one user and the socketpair is
private to them (never a path on disk, never inherited by workers)."""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from typing import Any

from pysupervise.proxy.client.parking import transport_has_unread

_LENGTH = struct.Struct("!I")
# Far above any snapshot (a few KiB per app) or report; a larger frame means the other side is broken.
_MAX_FRAME = 64 * 1024 * 1024


class ChannelBroken(Exception):
    """The other side sent something that is not a frame of ours."""


class FrameChannel:
    """One end: `send` never blocks (the transport buffers), `receive` returns None once the other end is gone."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def over(cls, sock: socket.socket) -> "FrameChannel":
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=_MAX_FRAME)
        return cls(reader, writer)

    def send(self, kind: str, payload: Any = None) -> None:
        if self._writer.is_closing():
            return
        data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        self._writer.write(_LENGTH.pack(len(data)) + data)

    async def receive(self) -> tuple[str, Any] | None:
        try:
            head = await self._reader.readexactly(_LENGTH.size)
            (length,) = _LENGTH.unpack(head)
            if length > _MAX_FRAME:
                raise ChannelBroken(f"a frame of {length} bytes")
            message = pickle.loads(await self._reader.readexactly(length))
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        if not (isinstance(message, tuple) and len(message) == 2 and isinstance(message[0], str)):
            raise ChannelBroken(f"not a message: {type(message).__name__}")
        return message

    def has_unread(self) -> bool:
        """The other end sent bytes this end has not read yet (a master stalled past a deadline: its timers ran
        first)."""
        return transport_has_unread(self._writer)

    async def flush(self) -> None:
        try:
            await self._writer.drain()
        except ConnectionError:
            pass

    def close(self) -> None:
        self._writer.close()
