"""EmbeddedConnection: one multiplexed client connection to the embedded broker, reopened on demand.

Many asyncio tasks share it: every request carries its own id and waits on its own future,
and the broker answers a parked receive() whenever a message comes, so a receive waiting
5 s never holds up a publish sent after it on the same connection.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Callable, cast

from .errors import BusError, BusUnavailable, NoSuchSubscription, NotAnInteger
from .outage import Outage
from .protocol import PROTOCOL_VERSION, ErrorCode, Frame, FrameDecoder, Op, ProtocolError, encode_frame, encode_int
from .urls import EmbeddedAddress

log = logging.getLogger("pysupervise.bus")

PushHandler = Callable[[int, bytes], None]
LostHandler = Callable[[str, float], None]  # (reason, Unix time of the last sign of life)


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, owner: EmbeddedConnection) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.pending: dict[int, asyncio.Future[Frame]] = {}
        # receive ids this side gave up on: a message that still arrives for one goes back.
        self.abandoned: dict[int, tuple[bytes, bytes]] = {}
        self.heard_at = time.monotonic()  # anything at all from the broker counts as a sign of life
        self.lost_reason = ""  # set when this side gives up on a silent broker, before it aborts
        self._decoder = FrameDecoder()
        self._watchdog: asyncio.TimerHandle | None = None
        self._ping_sent: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.heard_at = time.monotonic()
        self._watch(self.owner.health_check)

    def _watch(self, delay: float) -> None:
        if self.owner.health_check and not self.closed:
            self._watchdog = asyncio.get_running_loop().call_later(delay, self._check_health)

    def _check_health(self) -> None:
        # A quiet connection gets a PING; no reply (to it or to anything) within health_check
        # seconds and the broker is declared silent: a stopped master, or a socket nobody reads.
        # Any reply counts, so an older broker's "unknown op" answer proves life just as well.
        if self.closed or self.transport is None or self.transport.is_closing():
            return
        interval, now = self.owner.health_check, time.monotonic()
        if self._ping_sent is not None and self.heard_at < self._ping_sent:
            if now - self._ping_sent >= interval:
                self.owner.silent(self, f"no answer to a health check within {interval:g}s")
                return
            self._watch(self._ping_sent + interval - now)
            return
        self._ping_sent = None
        if now - self.heard_at >= interval:
            self.send(Op.PING)
            self._ping_sent = now
            self._watch(interval)
        else:
            self._watch(self.heard_at + interval - now)

    def data_received(self, data: bytes) -> None:
        self.heard_at = time.monotonic()
        try:
            frames = self._decoder.feed(data)
        except ProtocolError as error:
            log.error("bus: the broker at %s sent an invalid frame (%s); reconnecting", self.owner.url, error)
            assert self.transport is not None
            self.transport.abort()
            return
        for frame in frames:
            if frame.op == Op.PUSH:
                self.owner.on_push(frame.request_id, frame.args[0])
                continue
            future = self.pending.pop(frame.request_id, None)
            if future is not None:
                if not future.done():
                    future.set_result(frame)
            elif frame.request_id in self.abandoned:
                topic_and_name = self.abandoned.pop(frame.request_id)
                if frame.op == Op.OK and frame.args:
                    self.send(Op.REQUEUE, *topic_and_name, frame.args[0])

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        reason = self.lost_reason or (str(exc) if exc else "the broker closed it")
        for future in self.pending.values():
            if not future.done():
                future.set_exception(
                    BusUnavailable(
                        f"lost the connection to the pysupervise bus at {self.owner.url} ({reason}); "
                        "the request may or may not have been applied, and the next call reconnects"
                    )
                )
        self.pending.clear()
        silent_for = time.monotonic() - self.heard_at
        self.owner.on_lost(f"lost the connection to the pysupervise bus at {self.owner.url} ({reason})", time.time() - silent_for)

    def send(self, op: int, *args: bytes, request_id: int | None = None) -> int:
        request_id = self.owner.new_request_id() if request_id is None else request_id
        assert self.transport is not None
        self.transport.write(encode_frame(request_id, op, *args))
        return request_id


class EmbeddedConnection:
    def __init__(
        self,
        address: EmbeddedAddress,
        connect_timeout: float = 2.0,
        on_push: PushHandler | None = None,
        on_lost: LostHandler | None = None,
    ) -> None:
        self.address = address
        self.url = address.url
        self.connect_timeout = connect_timeout
        self.request_timeout = address.options.request_timeout
        self.health_check = address.options.health_check
        self.outage = Outage(f"the pysupervise bus at {self.url}")
        self._on_push = on_push
        self._on_lost = on_lost
        self._ids = itertools.count(1)
        self._protocol: _ClientProtocol | None = None
        self._connect_lock = asyncio.Lock()
        self._closed = False

    def new_request_id(self) -> int:
        # Request ids travel as 32-bit; wrapping after 4 billion requests is harmless because
        # an id is only in use while its reply is awaited.
        return next(self._ids) & 0xFFFFFFFF

    def on_push(self, sub_id: int, message: bytes) -> None:
        if self._on_push is not None:
            self._on_push(sub_id, message)

    def on_lost(self, reason: str, since: float) -> None:
        if self._on_lost is not None and not self._closed:
            self._on_lost(reason, since)

    def silent(self, protocol: _ClientProtocol, reason: str) -> None:
        """The broker did not answer on this connection: give it up (every waiting request fails now)."""
        self.outage.begin(reason)
        if not protocol.closed and protocol.transport is not None:
            protocol.lost_reason = reason
            protocol.closed = True  # now, not when connection_lost runs: the next call must reconnect
            protocol.transport.abort()

    @property
    def connected(self) -> bool:
        return self._protocol is not None and not self._protocol.closed

    async def connect(self) -> None:
        await self._connected()

    async def request(
        self, op: int, *args: bytes, request_id: int | None = None, extra_wait: float = 0.0,
        requeue_to: tuple[bytes, bytes] | None = None, patience: float = 0.0,
    ) -> tuple[bytes, ...]:
        """Send one request and return its reply's arguments; raises BusError subclasses.

        requeue_to=(topic, name) marks a receive: if the caller is cancelled while it waits,
        the broker is told to drop it, and a message already on its way is put back.
        patience: see Outage.admit.
        """
        await self.outage.admit(self._probe, patience)
        protocol = await self._connected()
        request_id = self.new_request_id() if request_id is None else request_id
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        protocol.pending[request_id] = future
        protocol.send(op, *args, request_id=request_id)
        try:
            async with asyncio.timeout(self.request_timeout + extra_wait):
                frame = await future
        except TimeoutError:
            protocol.pending.pop(request_id, None)
            deadline = self.request_timeout + extra_wait
            self.silent(protocol, f"no answer within {deadline:g}s")
            raise BusUnavailable(f"cannot reach the pysupervise bus at {self.url}: no answer within {deadline:g}s") from None
        except asyncio.CancelledError:
            protocol.pending.pop(request_id, None)
            if requeue_to is not None and not protocol.closed:
                self._give_back(protocol, request_id, future, requeue_to)
            raise
        return _check(frame)

    async def close(self) -> None:
        self._closed = True
        protocol, self._protocol = self._protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()

    def _give_back(self, protocol: _ClientProtocol, request_id: int, future: asyncio.Future[Frame], topic_and_name: tuple[bytes, bytes]) -> None:
        if future.done() and not future.cancelled() and future.exception() is None:
            frame = future.result()  # the message arrived, but the caller was cancelled first
            if frame.op == Op.OK and frame.args:
                protocol.send(Op.REQUEUE, *topic_and_name, frame.args[0])
            return
        protocol.abandoned[request_id] = topic_and_name
        protocol.send(Op.CANCEL, encode_int(request_id))

    async def _probe(self) -> None:
        await self._connected()  # the handshake on a fresh connection is the probe

    async def _connected(self) -> _ClientProtocol:
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            return protocol
        if self._closed:
            raise BusError(f"this bus client for {self.url} is closed")
        async with self._connect_lock:  # concurrent callers share one connection attempt
            protocol = self._protocol
            if protocol is None or protocol.closed:
                protocol = self._protocol = await self._open()
            return protocol

    async def _open(self) -> _ClientProtocol:
        loop = asyncio.get_running_loop()
        protocol: _ClientProtocol | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, protocol = await loop.create_unix_connection(lambda: _ClientProtocol(self), str(self.address.socket_path))
                future: asyncio.Future[Frame] = loop.create_future()
                hello_id = self.new_request_id()
                protocol.pending[hello_id] = future
                protocol.send(Op.HELLO, PROTOCOL_VERSION, request_id=hello_id)
                _check(await future)
        except (OSError, TimeoutError, BusUnavailable) as error:
            if protocol is not None and protocol.transport is not None:
                protocol.transport.close()
            if isinstance(error, TimeoutError):  # it accepted but never answered: silence, not a refusal
                self.outage.begin(f"no answer to the handshake within {self.connect_timeout:g}s")
            raise BusUnavailable(f"cannot reach the pysupervise bus at {self.url}: {self._reason(error)}") from None
        except BaseException:  # a refused handshake (BusError) or cancellation, as they are
            if protocol is not None and protocol.transport is not None:
                protocol.transport.close()
            raise
        return protocol

    def _reason(self, error: BaseException) -> str:
        path = self.address.socket_path
        if isinstance(error, FileNotFoundError):
            return f"there is no socket at {path} (is the pysupervise master running, and is this its run_dir?)"
        if isinstance(error, ConnectionRefusedError):
            return f"nothing listens on {path} (the master that created it has stopped)"
        if isinstance(error, PermissionError):
            return f"permission denied on {path} (run the app as the master's user)"
        if isinstance(error, TimeoutError):
            return f"no answer within {self.connect_timeout:g}s"
        if isinstance(error, BusUnavailable):
            return f"the connection closed during the handshake ({error})"
        return str(error)


def _check(frame: Frame) -> tuple[bytes, ...]:
    if frame.op == Op.OK:
        return frame.args
    code, message = (frame.args + (b"", b""))[:2]
    text = message.decode("utf-8", errors="replace")
    if code == ErrorCode.NO_SUCH_SUBSCRIPTION:
        raise NoSuchSubscription(text)
    if code == ErrorCode.NOT_AN_INTEGER:
        raise NotAnInteger(text)
    raise BusError(f"the pysupervise bus refused the request: {text}")
