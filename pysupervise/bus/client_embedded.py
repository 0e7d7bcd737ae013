"""The embedded backend's clients: EmbeddedBus and EmbeddedCache, speaking protocol.py to the master's broker."""

from __future__ import annotations

import asyncio
import logging

from .api import DEFAULT_CHANNEL_BUFFER, BusClient, CacheClient, SubscriptionStats, check_name, check_ttl, to_bytes
from .channel import ChannelSubscription
from .connection import EmbeddedConnection
from .errors import BusError, BusUnavailable, NoSuchSubscription
from .protocol import Op, decode_int, encode_float, encode_int
from .urls import EmbeddedAddress

log = logging.getLogger("pysupervise.bus")

RESUBSCRIBE_BACKOFF = (0.05, 2.0)  # first and longest pause between attempts to get channels back


class _EmbeddedChannelSubscription(ChannelSubscription):
    """Rides on the client's one connection: its health checks and reconnects (EmbeddedConnection) are this one's."""

    def __init__(self, bus: EmbeddedBus, channel: str, max_buffered: int) -> None:
        super().__init__(channel, max_buffered)
        self._bus = bus
        self.sub_id: int | None = None

    async def _open(self) -> None:
        await self._bus._register(self)
        self._bus._open_channels.add(self)

    async def _close(self) -> None:
        self._bus._open_channels.discard(self)
        sub_id, self.sub_id = self.sub_id, None
        if sub_id is not None:
            self._bus._by_sub_id.pop(sub_id, None)
            if self._bus._conn.connected:  # a lost connection already unsubscribed it
                try:
                    await self._bus._conn.request(Op.UNSUBSCRIBE, encode_int(sub_id))
                except BusUnavailable:
                    pass


class EmbeddedBus(BusClient):
    """Channel subscriptions ride on the same connection as requests; when it drops or goes
    silent, they are re-registered in the background and each reports the gap (messages
    published meanwhile are missed, as channels keep nothing), while requests simply
    reconnect on the next call."""

    def __init__(self, address: EmbeddedAddress, connect_timeout: float = 2.0) -> None:
        self.url = address.url
        self._conn = EmbeddedConnection(address, connect_timeout, on_push=self._on_push, on_lost=self._on_lost)
        self._by_sub_id: dict[int, _EmbeddedChannelSubscription] = {}
        self._open_channels: set[_EmbeddedChannelSubscription] = set()
        self._resubscriber: asyncio.Task[None] | None = None
        self._resubscribe_needed = False

    async def connect(self) -> EmbeddedBus:
        await self._conn.connect()
        return self

    async def ping(self) -> None:
        await self._conn.request(Op.PING)

    async def create_subscription(self, topic: str, name: str) -> None:
        await self._conn.request(Op.CREATE_SUBSCRIPTION, _b(check_name("topic", topic)), _b(check_name("subscription", name)))

    async def delete_subscription(self, topic: str, name: str) -> bool:
        reply = await self._conn.request(Op.DELETE_SUBSCRIPTION, _b(check_name("topic", topic)), _b(check_name("subscription", name)))
        return reply == (b"1",)

    async def publish(self, topic: str, message: bytes | str) -> int:
        (delivered,) = await self._conn.request(Op.PUBLISH, _b(check_name("topic", topic)), to_bytes(message))
        return decode_int(delivered)

    async def receive(self, topic: str, name: str, timeout: float) -> bytes | None:
        topic_b, name_b = _b(check_name("topic", topic)), _b(check_name("subscription", name))
        # A long wait is cut into waits of at most health_check seconds, as on Redis: it bounds
        # how long a receive stranded on the broker by a partition can take a message and lose it.
        loop = asyncio.get_running_loop()
        end = loop.time() + max(0.0, float(timeout))
        first = True
        while True:
            remaining = max(0.0, end - loop.time())
            wait = min(remaining, self._conn.health_check or remaining)
            try:
                reply = await self._conn.request(Op.RECEIVE, topic_b, name_b, encode_float(wait), extra_wait=wait,
                                                 requeue_to=(topic_b, name_b), patience=remaining if first else 0.0)
            except NoSuchSubscription:
                if first:
                    raise
                return None  # deleted while this receive waited: answered "nothing came", as it always was
            if reply:
                return reply[0]
            if wait >= remaining:
                return None
            first = False

    async def subscription_stats(self, topic: str) -> list[SubscriptionStats]:
        reply = await self._conn.request(Op.SUBSCRIPTIONS, _b(check_name("topic", topic)))
        return [
            SubscriptionStats(reply[i].decode(), decode_int(reply[i + 1]), decode_int(reply[i + 2]))
            for i in range(0, len(reply), 3)
        ]

    async def publish_channel(self, channel: str, message: bytes | str) -> int:
        (delivered,) = await self._conn.request(Op.PUBLISH_CHANNEL, _b(check_name("channel", channel)), to_bytes(message))
        return decode_int(delivered)

    def subscribe(self, channel: str, max_buffered: int = DEFAULT_CHANNEL_BUFFER) -> ChannelSubscription:
        return _EmbeddedChannelSubscription(self, check_name("channel", channel), max_buffered)

    async def close(self) -> None:
        if self._resubscriber is not None:
            self._resubscriber.cancel()
        for subscription in list(self._open_channels):
            await subscription.aclose()
        await self._conn.close()

    async def _register(self, subscription: _EmbeddedChannelSubscription) -> None:
        # The id is registered before the SUBSCRIBE is sent: the broker may push the first
        # message in the same read as its reply, before this coroutine resumes.
        sub_id = self._conn.new_request_id()
        self._by_sub_id[sub_id] = subscription
        try:
            await self._conn.request(Op.SUBSCRIBE, _b(subscription.channel), request_id=sub_id)
        except BaseException:
            self._by_sub_id.pop(sub_id, None)
            raise
        old, subscription.sub_id = subscription.sub_id, sub_id
        if old is not None:
            self._by_sub_id.pop(old, None)

    def _on_push(self, sub_id: int, message: bytes) -> None:
        subscription = self._by_sub_id.get(sub_id)
        if subscription is not None:
            subscription._deliver(message)

    def _on_lost(self, reason: str, since: float) -> None:
        if not self._open_channels:
            return
        for subscription in self._open_channels:
            subscription._cut(reason, since)
        self._resubscribe_needed = True
        if self._resubscriber is None or self._resubscriber.done():
            self._resubscriber = asyncio.get_running_loop().create_task(self._resubscribe(), name="pysupervise-bus-resubscribe")

    async def _resubscribe(self) -> None:
        pause, longest = RESUBSCRIBE_BACKOFF
        while self._resubscribe_needed and self._open_channels:
            self._resubscribe_needed = False
            try:
                for subscription in list(self._open_channels):
                    if not subscription.connected:  # one opened since the loss is live already
                        await self._register(subscription)
                        subscription._resumed()
                log.info("bus: channel subscriptions restored on %s", self.url)
                pause = RESUBSCRIBE_BACKOFF[0]
            except BusUnavailable as error:
                log.warning("bus: channel subscriptions lost (%s); retrying in %.2gs", error, pause)
                self._resubscribe_needed = True
                await asyncio.sleep(pause)
                pause = min(pause * 2, longest)
            except BusError:
                log.exception("bus: could not restore channel subscriptions on %s", self.url)
                return


class EmbeddedCache(CacheClient):
    def __init__(self, address: EmbeddedAddress, connect_timeout: float = 2.0) -> None:
        self.url = address.url
        self._conn = EmbeddedConnection(address, connect_timeout)

    async def connect(self) -> EmbeddedCache:
        await self._conn.connect()
        return self

    async def get(self, key: str) -> bytes | None:
        reply = await self._conn.request(Op.CACHE_GET, _b(check_name("cache key", key)))
        return reply[0] if reply else None

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        args = [_b(check_name("cache key", key)), to_bytes(value)]
        if check_ttl(ttl) is not None:
            args.append(encode_float(ttl))
        await self._conn.request(Op.CACHE_SET, *args)

    async def delete(self, key: str) -> bool:
        return await self._conn.request(Op.CACHE_DELETE, _b(check_name("cache key", key))) == (b"1",)

    async def incr(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        args = [_b(check_name("cache key", key)), encode_int(int(by))]
        if check_ttl(ttl) is not None:
            args.append(encode_float(ttl))
        (result,) = await self._conn.request(Op.CACHE_INCR, *args)
        return decode_int(result)

    async def close(self) -> None:
        await self._conn.close()


def _b(text: str) -> bytes:
    return text.encode("utf-8")
