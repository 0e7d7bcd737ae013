"""RedisChannelSubscription: one Redis pub/sub connection per channel subscription, health-checked, resubscribed after any loss."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .channel import ChannelSubscription
from .errors import BusUnavailable

if TYPE_CHECKING:
    from .client_redis import RedisConnections

log = logging.getLogger("pysupervise.bus")

RESUBSCRIBE_BACKOFF = (0.05, 2.0)
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


class _Dead(Exception):
    """The pub/sub connection is gone or silent; str() says why."""

    def __init__(self, reason: str, silent: bool = False) -> None:
        super().__init__(reason)
        self.silent = silent  # no answer at all, rather than an error: Redis may be cut off for everyone


class RedisChannelSubscription(ChannelSubscription):
    """A supervising task owns the pub/sub connection: a reader feeds the local buffer, and
    while the connection is quiet the supervisor PINGs on it. No answer within health_check
    seconds, a read error, or a read that returns nothing (how some redis-py versions report a
    dead socket: reading again would spin) ends that connection; the task then resubscribes
    with backoff and reports the gap (ChannelSubscription)."""

    def __init__(self, redis: RedisConnections, channel: str, max_buffered: int,
                 forget: Callable[[ChannelSubscription], None]) -> None:
        super().__init__(channel, max_buffered)
        self._redis = redis
        self._forget = forget
        self._key = f"pysupervise:bus:channel:{channel}"
        self._pubsub: Any = None
        self._runner: asyncio.Task[None] | None = None
        self._heard_at = 0.0  # loop time of the last reply of any kind on the current connection

    async def _open(self) -> None:
        self._pubsub = await self._redis.run(self._subscribe())
        self._runner = asyncio.create_task(self._run(), name=f"pysupervise-bus-channel-{self.channel}")

    async def _subscribe(self) -> Any:
        pubsub = self._redis.waiting_client.pubsub()
        try:
            await pubsub.subscribe(self._key)
            # Wait for Redis to confirm, so a publish sent after open() returns is seen.
            while True:
                reply = await pubsub.get_message(timeout=None)
                if reply is None:
                    raise RedisConnectionError("the connection returned nothing while subscribing")
                if reply["type"] == "subscribe":
                    return pubsub
        except BaseException:
            await _discard(pubsub)
            raise

    async def _run(self) -> None:
        while True:
            try:
                await self._listen(self._pubsub)
                raise _Dead("the listener stopped")
            except _Dead as dead:
                reason, silent = str(dead), dead.silent
            except Exception as error:  # a bug here must not end the subscription silently
                log.exception("bus: channel %r: reading failed", self.channel)
                reason, silent = repr(error), False
            since = time.time() - (asyncio.get_running_loop().time() - self._heard_at)
            self._cut(reason, since)
            if silent:
                await self._redis.silent(f"channel {self.channel!r}: {reason}")
            pubsub, self._pubsub = self._pubsub, None
            await _discard(pubsub)
            self._pubsub = await self._resubscribe()
            self._resumed()

    async def _resubscribe(self) -> Any:
        pause = RESUBSCRIBE_BACKOFF[0]
        while True:
            await asyncio.sleep(pause)
            try:
                pubsub = await self._redis.run(self._subscribe())
            except BusUnavailable as error:
                pause = min(pause * 2, RESUBSCRIBE_BACKOFF[1])
                log.warning("bus: %s; retrying channel %r in %.2gs", error, self.channel, pause)
                continue
            log.info("bus: channel %r subscribed again on %s", self.channel, self._redis.url)
            return pubsub

    async def _listen(self, pubsub: Any) -> None:
        """Deliver messages until the connection dies or goes silent; raises _Dead."""
        loop = asyncio.get_running_loop()
        self._heard_at = loop.time()
        reader = loop.create_task(self._read(pubsub), name=f"pysupervise-bus-read-{self.channel}")
        interval = self._redis.options.health_check
        ping_sent: float | None = None
        try:
            while True:
                wait: float | None = None
                if interval:
                    now = loop.time()
                    if ping_sent is not None and self._heard_at < ping_sent:
                        wait = ping_sent + interval - now
                        if wait <= 0:
                            raise _Dead(f"no answer to a health check within {interval:g}s", silent=True)
                    else:
                        ping_sent = None
                        wait = self._heard_at + interval - now
                        if wait <= 0:
                            await self._ping(pubsub, interval)
                            ping_sent, wait = loop.time(), interval
                done, _ = await asyncio.wait({reader}, timeout=wait)
                if done:
                    reader.result()  # it only ends by raising _Dead
                    raise _Dead("the reader stopped")
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                reply = await pubsub.get_message(timeout=None)
            except REDIS_ERRORS as error:
                raise _Dead(f"lost the connection to the Redis bus at {self._redis.url}: {error}") from None
            if reply is None:
                raise _Dead(f"the connection to the Redis bus at {self._redis.url} is dead (a blocking read returned nothing)")
            self._heard_at = loop.time()
            if reply["type"] == "message":
                self._deliver(reply["data"])

    async def _ping(self, pubsub: Any, interval: float) -> None:
        # In subscribed mode the PONG comes back through the reader, like any message.
        try:
            async with asyncio.timeout(interval):
                await pubsub.ping()
        except (TimeoutError, *REDIS_ERRORS) as error:
            raise _Dead(f"could not send a health check: {error!r}", silent=isinstance(error, TimeoutError)) from None

    async def _close(self) -> None:
        self._forget(self)
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                # Redis would otherwise count it until it sees the close; a silent Redis is not waited for.
                async with asyncio.timeout(self._redis.options.request_timeout):
                    await pubsub.unsubscribe()
            except (TimeoutError, *REDIS_ERRORS):
                pass
            await _discard(pubsub)


async def _discard(pubsub: Any) -> None:
    try:
        await pubsub.aclose()
    except REDIS_ERRORS:
        pass  # it is broken already; only its pool slot matters
