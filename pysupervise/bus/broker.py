"""EmbeddedBroker: the bus and cache server that runs inside the pysupervise master on a Unix socket."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any, Callable, cast

from pysupervise.periodic import PeriodicTask, TaskErrors

from .cache_store import CacheStore
from .protocol import PROTOCOL_VERSION, ErrorCode, Frame, FrameDecoder, Op, ProtocolError, decode_float, decode_int, encode_frame, encode_int
from .topics import Subscription, TopicStore
from .urls import DEFAULT_MAX_WAITING, embedded_url

log = logging.getLogger("pysupervise.bus")

# A channel subscriber whose socket has this much unsent data is not reading: further channel
# messages for it are dropped (and counted) rather than buffered without bound in the master.
PUSH_BACKLOG_LIMIT = 4 * 1024 * 1024
SWEEP_INTERVAL = 1.0


class _BadRequest(Exception):
    def __init__(self, code: bytes, message: str) -> None:
        super().__init__(message)
        self.code = code


class _ChannelSubscriber:
    __slots__ = ("connection", "sub_id", "dropped")

    def __init__(self, connection: BrokerConnection, sub_id: int) -> None:
        self.connection = connection
        self.sub_id = sub_id
        self.dropped = 0


class _ParkedReceive:
    """A receive waiting on an empty subscription until a publish, its timeout, or a cancel."""

    __slots__ = ("connection", "request_id", "subscription", "timer")

    def __init__(self, connection: BrokerConnection, request_id: int, subscription: Subscription, timeout: float) -> None:
        self.connection = connection
        self.request_id = request_id
        self.subscription = subscription
        self.timer = asyncio.get_running_loop().call_later(timeout, self.expire)

    def deliver(self, message: bytes | None) -> bool:
        if self.connection.gone:
            return False
        self.timer.cancel()
        self.connection.parked.pop(self.request_id, None)
        self.connection.reply(self.request_id, *(() if message is None else (message,)))
        return True

    def expire(self) -> None:
        self.subscription.unpark(self)
        self.deliver(None)

    def abandon(self) -> None:
        self.timer.cancel()
        self.subscription.unpark(self)


class BrokerConnection(asyncio.Protocol):
    """One worker's connection: requests are answered in arrival order, except parked receives."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self.broker = broker
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.parked: dict[int, _ParkedReceive] = {}
        self.channel_subs: dict[int, tuple[str, _ChannelSubscriber]] = {}
        self._decoder = FrameDecoder()

    @property
    def gone(self) -> bool:
        """Closed or closing: anything written now might never reach the client."""
        return self.closed or self.transport is None or self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.broker.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.broker.connections.discard(self)
        for parked in self.parked.values():
            parked.abandon()
        self.parked.clear()
        for channel, subscriber in self.channel_subs.values():
            self.broker.remove_channel_subscriber(channel, subscriber)
        self.channel_subs.clear()

    # Back-pressure: a client that sends requests faster than it reads replies is not read
    # from until it catches up, so its replies cannot pile up in the master.
    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as error:
            log.warning("bus: dropping a client that sent an invalid frame: %s", error)
            assert self.transport is not None
            self.transport.abort()
            return
        for frame in frames:
            handler = self.broker.handlers.get(frame.op)
            try:
                if handler is None:
                    raise _BadRequest(ErrorCode.BAD_REQUEST, f"unknown op {frame.op}")
                handler(self, frame)
            except _BadRequest as error:
                self.reply_error(frame.request_id, error.code, str(error))
            except (ValueError, IndexError, UnicodeDecodeError) as error:
                self.reply_error(frame.request_id, ErrorCode.BAD_REQUEST, f"malformed {Op(frame.op).name} request: {error}")

    def reply(self, request_id: int, *args: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(encode_frame(request_id, Op.OK, *args))

    def reply_error(self, request_id: int, code: bytes, message: str) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(encode_frame(request_id, Op.ERROR, code, message.encode()))

    def push(self, subscriber: _ChannelSubscriber, message: bytes) -> bool:
        if self.gone:
            return False
        if self.transport.get_write_buffer_size() > PUSH_BACKLOG_LIMIT:
            subscriber.dropped += 1
            return False
        self.transport.write(encode_frame(subscriber.sub_id, Op.PUSH, message))
        return True


def _text(frame: Frame, index: int) -> str:
    return frame.args[index].decode("utf-8")


class EmbeddedBroker:
    """Owns the topics, the cache and the channel registry; serves them on socket_path.

    State lives only in memory: it survives worker crashes and app reloads (the master keeps
    it) but not a restart of the master.
    """

    def __init__(self, socket_path: Path, max_waiting: int = DEFAULT_MAX_WAITING,
                 errors: TaskErrors | None = None) -> None:
        self.socket_path = Path(socket_path)
        self.topics = TopicStore(max_waiting)
        self.cache = CacheStore()
        self.channels: dict[str, set[_ChannelSubscriber]] = {}
        self.connections: set[BrokerConnection] = set()
        self.handlers: dict[int, Callable[[BrokerConnection, Frame], None]] = {
            Op.HELLO: self._hello,
            Op.PUBLISH: self._publish,
            Op.CREATE_SUBSCRIPTION: self._create_subscription,
            Op.DELETE_SUBSCRIPTION: self._delete_subscription,
            Op.RECEIVE: self._receive,
            Op.CANCEL: self._cancel,
            Op.REQUEUE: self._requeue,
            Op.SUBSCRIPTIONS: self._subscriptions,
            Op.PUBLISH_CHANNEL: self._publish_channel,
            Op.SUBSCRIBE: self._subscribe,
            Op.UNSUBSCRIBE: self._unsubscribe,
            Op.CACHE_GET: self._cache_get,
            Op.CACHE_SET: self._cache_set,
            Op.CACHE_DELETE: self._cache_delete,
            Op.CACHE_INCR: self._cache_incr,
            Op.PING: self._ping,
        }
        self._server: asyncio.AbstractServer | None = None
        self._sweeper = PeriodicTask("bus-cache-sweeper", SWEEP_INTERVAL, self.cache.sweep, errors or TaskErrors())

    @property
    def url(self) -> str:
        return embedded_url(self.socket_path)

    async def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.socket_path.unlink()  # left over from a master that did not exit cleanly
        except FileNotFoundError:
            pass
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(lambda: BrokerConnection(self), path=str(self.socket_path))
        os.chmod(self.socket_path, 0o600)  # workers run as the master's user; nobody else needs it
        self._sweeper.start()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._sweeper.stop()
        self.topics.close()
        self.cache.clear()
        self.channels.clear()
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass

    def stats(self) -> dict[str, Any]:
        """A JSON-ready snapshot for status pages."""
        topics = {
            topic: {s.name: {"waiting": len(s.messages), "dropped": s.dropped, "receivers": len(s.waiters)} for s in subs}
            for topic, subs in self.topics.topics()
        }
        channels = {
            channel: {"subscribers": len(subs), "dropped": sum(s.dropped for s in subs)}
            for channel, subs in sorted(self.channels.items())
        }
        return {
            "url": self.url,
            "connections": len(self.connections),
            "max_waiting": self.topics.max_waiting,
            "topics": len(topics),
            "subscriptions": topics,
            "channels": channels,
            "cache_keys": len(self.cache),
        }

    def remove_channel_subscriber(self, channel: str, subscriber: _ChannelSubscriber) -> None:
        subscribers = self.channels.get(channel)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self.channels[channel]

    # -- request handlers: each answers synchronously, except a receive that must wait --

    def _hello(self, conn: BrokerConnection, frame: Frame) -> None:
        if frame.args[:1] != (PROTOCOL_VERSION,):
            raise _BadRequest(
                ErrorCode.VERSION,
                f"the broker speaks bus protocol {PROTOCOL_VERSION.decode()}, this client {frame.args[:1]!r}; "
                "restart the app so it runs the same pysupervise as the master",
            )
        conn.reply(frame.request_id, PROTOCOL_VERSION)

    def _ping(self, conn: BrokerConnection, frame: Frame) -> None:
        conn.reply(frame.request_id)

    def _publish(self, conn: BrokerConnection, frame: Frame) -> None:
        delivered = self.topics.publish(_text(frame, 0), frame.args[1])
        conn.reply(frame.request_id, encode_int(delivered))

    def _create_subscription(self, conn: BrokerConnection, frame: Frame) -> None:
        self.topics.create(_text(frame, 0), _text(frame, 1))
        conn.reply(frame.request_id)

    def _delete_subscription(self, conn: BrokerConnection, frame: Frame) -> None:
        existed = self.topics.delete(_text(frame, 0), _text(frame, 1))
        conn.reply(frame.request_id, b"1" if existed else b"0")

    def _receive(self, conn: BrokerConnection, frame: Frame) -> None:
        topic, name, timeout = _text(frame, 0), _text(frame, 1), decode_float(frame.args[2])
        subscription = self.topics.get(topic, name)
        if subscription is None:
            raise _BadRequest(ErrorCode.NO_SUCH_SUBSCRIPTION, f"topic {topic!r} has no subscription {name!r}")
        message = subscription.pop()
        if message is not None or timeout <= 0:
            conn.reply(frame.request_id, *(() if message is None else (message,)))
            return
        parked = _ParkedReceive(conn, frame.request_id, subscription, timeout)
        conn.parked[frame.request_id] = parked
        subscription.park(parked)

    def _cancel(self, conn: BrokerConnection, frame: Frame) -> None:
        # The client gave up on a receive (its task was cancelled). Answering the receive's
        # own id with "nothing" lets the client forget it; if a message got there first, the
        # client sends it back with REQUEUE.
        parked = conn.parked.pop(decode_int(frame.args[0]), None)
        if parked is not None:
            parked.abandon()
            conn.reply(parked.request_id)
        conn.reply(frame.request_id)

    def _requeue(self, conn: BrokerConnection, frame: Frame) -> None:
        subscription = self.topics.get(_text(frame, 0), _text(frame, 1))
        if subscription is not None:
            subscription.push_front(frame.args[2])
        conn.reply(frame.request_id)

    def _subscriptions(self, conn: BrokerConnection, frame: Frame) -> None:
        args: list[bytes] = []
        for subscription in self.topics.subscriptions(_text(frame, 0)):
            args += [subscription.name.encode(), encode_int(len(subscription.messages)), encode_int(subscription.dropped)]
        conn.reply(frame.request_id, *args)

    def _publish_channel(self, conn: BrokerConnection, frame: Frame) -> None:
        message = frame.args[1]
        delivered = 0
        for subscriber in self.channels.get(_text(frame, 0), ()):
            delivered += subscriber.connection.push(subscriber, message)
        conn.reply(frame.request_id, encode_int(delivered))

    def _subscribe(self, conn: BrokerConnection, frame: Frame) -> None:
        # The SUBSCRIBE's request id becomes the subscription's id: pushes carry it.
        channel = _text(frame, 0)
        subscriber = _ChannelSubscriber(conn, frame.request_id)
        self.channels.setdefault(channel, set()).add(subscriber)
        conn.channel_subs[frame.request_id] = (channel, subscriber)
        conn.reply(frame.request_id)

    def _unsubscribe(self, conn: BrokerConnection, frame: Frame) -> None:
        entry = conn.channel_subs.pop(decode_int(frame.args[0]), None)
        if entry is not None:
            self.remove_channel_subscriber(*entry)
        conn.reply(frame.request_id)

    def _cache_get(self, conn: BrokerConnection, frame: Frame) -> None:
        value = self.cache.get(_text(frame, 0))
        conn.reply(frame.request_id, *(() if value is None else (value,)))

    def _cache_set(self, conn: BrokerConnection, frame: Frame) -> None:
        ttl = decode_float(frame.args[2]) if len(frame.args) > 2 else None
        if ttl is not None and not ttl > 0:
            raise _BadRequest(ErrorCode.BAD_REQUEST, f"ttl must be positive, not {ttl}")
        self.cache.set(_text(frame, 0), frame.args[1], ttl)
        conn.reply(frame.request_id)

    def _cache_delete(self, conn: BrokerConnection, frame: Frame) -> None:
        conn.reply(frame.request_id, b"1" if self.cache.delete(_text(frame, 0)) else b"0")

    def _cache_incr(self, conn: BrokerConnection, frame: Frame) -> None:
        key, by = _text(frame, 0), decode_int(frame.args[1])
        ttl = decode_float(frame.args[2]) if len(frame.args) > 2 else None
        if ttl is not None and not ttl > 0:
            raise _BadRequest(ErrorCode.BAD_REQUEST, f"ttl must be positive, not {ttl}")
        try:
            result = self.cache.incr(key, by, ttl)
        except ValueError:
            raise _BadRequest(ErrorCode.NOT_AN_INTEGER, f"cache key {key!r} does not hold a decimal integer") from None
        conn.reply(frame.request_id, encode_int(result))
