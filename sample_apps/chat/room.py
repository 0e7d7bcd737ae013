"""The browsers connected to this worker, each with a bounded outbox, and a broadcast to all of them."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

log = logging.getLogger("chat")

OUTBOX_LIMIT = 500  # frames a socket may lag behind before it is closed (the page reconnects)


class Participant:
    """One browser socket and the task that writes its outbox in order."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self._outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOX_LIMIT)
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self._closing: asyncio.Task[bool] | None = None

    def send(self, frame: str) -> None:
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("a browser fell %d messages behind; closing its socket", OUTBOX_LIMIT)
            self._writer.cancel()
            self._closing = asyncio.get_running_loop().create_task(self.ws.close(message=b"too slow"))

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    async def close(self) -> None:
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)


class LocalRoom:
    """Everyone connected to this worker; the bus channel makes the room span all workers."""

    def __init__(self) -> None:
        self.participants: set[Participant] = set()

    def add(self, participant: Participant) -> None:
        self.participants.add(participant)

    def remove(self, participant: Participant) -> None:
        self.participants.discard(participant)

    def broadcast(self, frame: str) -> int:
        for participant in self.participants:
            participant.send(frame)
        return len(self.participants)
