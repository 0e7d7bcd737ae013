"""ChannelSubscription: the consumer side of one channel subscription, with a bounded local buffer."""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from types import TracebackType
from typing import AsyncIterator

from .errors import BusError


class ChannelSubscription(abc.ABC):
    """Messages published on `channel` while this subscription is open; nothing is kept for later.

    If the app reads slower than messages arrive, the oldest buffered ones are dropped beyond
    max_buffered and counted in `dropped`, so a stalled reader cannot grow memory without bound.
    """

    def __init__(self, channel: str, max_buffered: int) -> None:
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self.channel = channel
        self.dropped = 0
        self._max_buffered = max_buffered
        self._buffer: deque[bytes] = deque()
        self._arrived = asyncio.Event()
        self._state = "new"  # new → open → closed
        self._opening: asyncio.Lock = asyncio.Lock()
        self._managed = False

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    async def open(self) -> ChannelSubscription:
        async with self._opening:
            if self._state == "closed":
                raise BusError(f"the subscription to channel {self.channel!r} is closed")
            if self._state == "new":
                await self._open()
                self._state = "open"
        return self

    async def aclose(self) -> None:
        if self._state == "closed":
            return
        was_open = self._state == "open"
        self._state = "closed"
        self._arrived.set()  # wake a reader so it sees the end
        if was_open:
            await self._close()

    async def get(self, timeout: float | None = None) -> bytes | None:
        """The next message, or None after timeout seconds without one."""
        if self._state == "new":
            await self.open()
        try:
            async with asyncio.timeout(timeout):
                while not self._buffer:
                    if self._state == "closed":
                        raise BusError(f"the subscription to channel {self.channel!r} is closed")
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            return None
        return self._buffer.popleft()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        # An async generator rather than __anext__: when a bare `async for` is left with break,
        # asyncio finalizes the abandoned generator, and its `finally` unsubscribes.
        await self.open()
        try:
            while self._buffer or self._state != "closed":
                try:
                    message = await self.get()
                except BusError:
                    if self._state == "closed":
                        return
                    raise
                if message is not None:
                    yield message
        finally:
            if not self._managed:
                await self.aclose()

    async def __aenter__(self) -> ChannelSubscription:
        self._managed = True
        return await self.open()

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def _deliver(self, message: bytes) -> None:
        """Called by the backend for each message that arrives on the channel."""
        if self._state == "closed":
            return
        if len(self._buffer) >= self._max_buffered:
            self._buffer.popleft()
            self.dropped += 1
        self._buffer.append(message)
        self._arrived.set()

    @abc.abstractmethod
    async def _open(self) -> None:
        """Register with the broker / Redis; return once messages are being delivered."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Unregister; must not raise if the connection is already gone."""
