"""Websocket rooms: each socket watches one city; each has its own bounded outbox so one slow browser delays nobody."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger("wazstagram.frontend")

# Frames one socket may have queued; a browser this far behind is disconnected (it reconnects and
# gets the cache replayed), rather than holding memory without bound.
OUTBOX_LIMIT = 1000


class Viewer:
    """One browser socket and the task that writes its outbox to it in order."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.room: str | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_LIMIT)
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self._closing: asyncio.Task[bool] | None = None

    def send(self, frame: str) -> None:
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("a browser fell %d frames behind; closing its socket", OUTBOX_LIMIT)
            self._writer.cancel()
            self._closing = asyncio.get_running_loop().create_task(self.ws.close(message=b"too slow"))

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return  # the socket closed; the handler removes us from the rooms

    async def close(self) -> None:
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)


class Rooms:
    """Which viewers watch which city."""

    def __init__(self) -> None:
        self._rooms: dict[str, set[Viewer]] = {}

    def join(self, viewer: Viewer, room: str) -> None:
        self.leave(viewer)
        self._rooms.setdefault(room, set()).add(viewer)
        viewer.room = room

    def leave(self, viewer: Viewer) -> None:
        if viewer.room is not None:
            members = self._rooms.get(viewer.room, set())
            members.discard(viewer)
            if not members:
                self._rooms.pop(viewer.room, None)
            viewer.room = None

    def send(self, room: str, frame: str) -> int:
        members = self._rooms.get(room, ())
        for viewer in members:
            viewer.send(frame)
        return len(members)

    def viewers(self) -> list[Viewer]:
        return [viewer for members in self._rooms.values() for viewer in members]
