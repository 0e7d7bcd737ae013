"""A browser websocket with a bounded outbox, written in order by its own task, so one slow browser delays nobody."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web


class SocketOutbox:
    """Frames queue up to `limit`; a browser that far behind is disconnected (its page reconnects) rather
    than holding memory without bound."""

    def __init__(self, ws: web.WebSocketResponse, limit: int, log: logging.Logger) -> None:
        self.ws = ws
        self._limit = limit
        self._log = log
        self._outbox: asyncio.Queue[str] = asyncio.Queue(limit)
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self._closing: asyncio.Task[bool] | None = None

    def send(self, frame: str) -> None:
        try:
            self._outbox.put_nowait(frame)
        except asyncio.QueueFull:
            self._log.warning("a browser fell %d frames behind; closing its socket", self._limit)
            self._writer.cancel()
            self._closing = asyncio.get_running_loop().create_task(self.ws.close(message=b"too slow"))

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return  # the socket closed; its handler forgets this outbox

    async def close(self) -> None:
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
