"""ChannelSubscription: the consumer side of one channel subscription, with a bounded local buffer."""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections import deque
from types import TracebackType
from typing import AsyncIterator

from .errors import BusError, MessagesMissed

log = logging.getLogger("pysupervise.bus")


class ChannelSubscription(abc.ABC):
    """Messages published on `channel` while this subscription is open; nothing is kept for later.

    If the app reads slower than messages arrive, the oldest buffered ones are dropped beyond
    max_buffered and counted in `dropped`, so a stalled reader cannot grow memory without bound.

    Gaps: when the connection dies or goes silent (health checks, see ClientOptions), the
    subscription notices, resubscribes with backoff, and then reports the gap in the stream:
    the get() that reaches it raises MessagesMissed once (messages from before the gap come
    first, those from after it next). `connected` is False while it is cut off; `gaps` counts
    the reported gaps.
    """

    def __init__(self, channel: str, max_buffered: int) -> None:
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self.channel = channel
        self.dropped = 0
        self.gaps = 0
        self._max_buffered = max_buffered
        self._buffer: deque[bytes | MessagesMissed] = deque()
        self._buffered_messages = 0  # the buffer's bytes entries; gap markers do not count against max_buffered
        self._cut_off: tuple[float, str] | None = None  # (since, reason) while the subscription is not live
        self._arrived = asyncio.Event()
        self._state = "new"  # new → open → closed
        self._opening: asyncio.Lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        return self._state == "closed"

    @property
    def connected(self) -> bool:
        """Open and live: messages published now reach this subscription."""
        return self._state == "open" and self._cut_off is None

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
        """The next message, or None after timeout seconds without one.

        Raises MessagesMissed once where the stream has a gap (the subscription stays open).
        """
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
        entry = self._buffer.popleft()
        if isinstance(entry, MessagesMissed):
            raise entry
        self._buffered_messages -= 1
        return entry

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        # An async generator rather than __anext__: when a bare `async for` is left with break,
        # asyncio finalizes the abandoned generator, and its `finally` unsubscribes. Whoever
        # opened the subscription closes it: a loop that opened it closes it when it ends (an
        # exception included), one over a subscription opened by open() or `async with` does
        # not, so the app can catch MessagesMissed and iterate again.
        opened_here = self._state == "new"
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
            if opened_here:
                await self.aclose()

    async def __aenter__(self) -> ChannelSubscription:
        return await self.open()

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.aclose()

    def _deliver(self, message: bytes) -> None:
        """Called by the backend for each message that arrives on the channel."""
        if self._state == "closed":
            return
        if self._buffered_messages >= self._max_buffered:
            self._drop_oldest_message()
        self._buffer.append(message)
        self._buffered_messages += 1
        self._arrived.set()

    def _drop_oldest_message(self) -> None:
        # A gap marker is never dropped: the app must still learn of the gap. Two markers that
        # end up side by side become one, so markers stay fewer than messages.
        first = self._buffer.popleft()
        if isinstance(first, MessagesMissed):
            del self._buffer[0]
            if self._buffer and isinstance(self._buffer[0], MessagesMissed):
                first = first.merged(self._buffer.popleft())
            self._buffer.appendleft(first)
        self._buffered_messages -= 1
        self.dropped += 1

    def _cut(self, reason: str, since: float | None = None) -> None:
        """Called by the backend when the subscription stopped receiving (since: last sign of life, Unix time)."""
        if self._state == "closed" or self._cut_off is not None:
            return
        self._cut_off = (time.time() if since is None else since, reason)
        log.warning("bus: channel %r is cut off (%s); subscribing again", self.channel, reason)

    def _resumed(self) -> None:
        """Called by the backend once the subscription is live again: the gap goes into the stream."""
        if self._cut_off is None or self._state == "closed":
            return
        (since, reason), self._cut_off = self._cut_off, None
        gap = MessagesMissed(self.channel, since, time.time(), reason)
        if self._buffer and isinstance(self._buffer[-1], MessagesMissed):
            gap = self._buffer.pop().merged(gap)  # nothing arrived between two outages: one report
        else:
            self.gaps += 1
        self._buffer.append(gap)
        self._arrived.set()
        log.info("bus: channel %r is live again; %s", self.channel, gap)

    @abc.abstractmethod
    async def _open(self) -> None:
        """Register with the broker / Redis; return once messages are being delivered."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Unregister; must not raise if the connection is already gone."""
