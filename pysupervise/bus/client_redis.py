"""The Redis backend's clients: RedisBus and RedisCache, the same semantics as the embedded broker on redis.asyncio.

Layout in Redis (one topic's keys share a {hash tag}, so they sit in one cluster slot):
  pysupervise:bus:{<topic>}:subs            set of subscription names
  pysupervise:bus:{<topic>}:queue:<name>    list of waiting messages (RPUSH in, LPOP out)
  pysupervise:bus:{<topic>}:dropped         hash name → messages dropped by max_waiting
  pysupervise:bus:channel:<channel>         pub/sub channel
  pysupervise:cache:<key>                   cache values, with Redis expiry
Topic and subscription names are %-quoted inside keys so no name can forge another's key.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Awaitable, TypeVar
from urllib.parse import quote, unquote

import redis.asyncio as aioredis
from redis.asyncio import BlockingConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .api import DEFAULT_CHANNEL_BUFFER, BusClient, CacheClient, SubscriptionStats, check_name, check_ttl, to_bytes
from .channel import ChannelSubscription
from .errors import BusUnavailable, NoSuchSubscription, NotAnInteger
from .outage import Outage
from .redis_channel import RedisChannelSubscription
from .urls import RedisAddress

log = logging.getLogger("pysupervise.bus")
T = TypeVar("T")

# Fan-out is one script so a publish lands in every subscription or in none, and max_waiting
# is enforced in the same step. KEYS: subs set, dropped hash. ARGV: message, max_waiting, queue prefix.
PUBLISH_SCRIPT = """
local names = redis.call('SMEMBERS', KEYS[1])
local max = tonumber(ARGV[2])
for _, name in ipairs(names) do
  local queue = ARGV[3] .. name
  local length = redis.call('RPUSH', queue, ARGV[1])
  if length > max then
    redis.call('LTRIM', queue, length - max, -1)
    redis.call('HINCRBY', KEYS[2], name, length - max)
  end
end
return #names
"""
# Non-blocking half of receive: tells a missing subscription from an empty one in one trip.
# KEYS: subs set, queue. ARGV: quoted name.
POP_SCRIPT = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return {0} end
local message = redis.call('LPOP', KEYS[2])
if message then return {1, message} end
return {1}
"""
COMMAND_CONNECTIONS = 32  # per client, for everything that answers at once
WAITING_CONNECTIONS = 1024  # per client, one per concurrent receive() wait or channel subscription


def _topic_prefix(topic: str) -> str:
    return f"pysupervise:bus:{{{quote(topic, safe='')}}}:"


class RedisConnections:
    """The redis.asyncio clients both RedisBus and RedisCache use, every call's deadline, and the outage gate."""

    def __init__(self, address: RedisAddress, connect_timeout: float) -> None:
        self.url = address.url
        self.options = address.options
        self.connect_timeout = connect_timeout
        self.outage = Outage(f"the Redis bus at {self.url}")
        # No hidden retries: a command that failed mid-flight might have been applied, so the
        # caller gets BusUnavailable and decides. A dead pooled connection is noticed when it
        # is taken from the pool and replaced, which is what makes the next call reconnect.
        # socket_timeout=None because BLPOP and pub/sub reads legitimately wait; asyncio
        # deadlines in run() bound every call instead, and pub/sub health checks are ours.
        # protocol=2: under RESP3 redis-py 8 enables maintenance notifications, which switches off
        # the check that finds a pooled connection the server has closed (tested in test_failures).
        options: dict[str, Any] = {
            "socket_connect_timeout": connect_timeout, "socket_timeout": None, "retry": Retry(NoBackoff(), 0), "protocol": 2,
        }
        timeout = self.options.request_timeout
        # Two pools, so connections parked in BLPOP or pub/sub can never starve quick commands:
        # a burst of tasks waits for one of COMMAND_CONNECTIONS instead of opening hundreds.
        # from_pool: the client owns its pool, so aclose() closes the pool's connections too.
        self.client = aioredis.Redis.from_pool(
            BlockingConnectionPool.from_url(address.redis_url, max_connections=COMMAND_CONNECTIONS, timeout=timeout, **options)
        )
        self.waiting_client = aioredis.Redis.from_pool(
            BlockingConnectionPool.from_url(address.redis_url, max_connections=WAITING_CONNECTIONS, timeout=timeout, **options)
        )

    async def run(self, awaitable: Awaitable[T], extra_wait: float = 0.0, deadline: float | None = None,
                  patience: float = 0.0) -> T:
        """Await one Redis call within its deadline (request_timeout + extra_wait), errors as BusUnavailable.

        patience: see Outage.admit.
        """
        try:
            await self.outage.admit(self._probe, patience)
        except BaseException:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never sent: do not leave a coroutine that was never awaited
            raise
        result = await self._answer(awaitable, self.options.request_timeout + extra_wait if deadline is None else deadline)
        self.outage.end()
        return result

    async def _probe(self) -> None:
        await self._answer(self.client.ping(), min(self.connect_timeout, self.options.request_timeout))

    async def _answer(self, awaitable: Awaitable[T], deadline: float) -> T:
        try:
            async with asyncio.timeout(deadline):
                return await awaitable
        except TimeoutError:  # our deadline, or the kernel's ETIMEDOUT
            await self.silent(f"no answer within {deadline:g}s")
            raise BusUnavailable(f"cannot reach the Redis bus at {self.url}: no answer within {deadline:g}s") from None
        except RedisTimeoutError as error:  # a connect that timed out: silence too
            await self.silent(str(error))
            raise self.unavailable(error) from None
        except (RedisConnectionError, OSError) as error:
            raise self.unavailable(error) from None

    async def silent(self, reason: str) -> None:
        """Redis did not answer: start (or go on with) the outage, and drop every pooled connection.

        Any of them may be black-holed, or half way through a handshake a deadline cut short; in
        use or not, they would only hang their next caller. Fresh ones are made on demand.
        """
        self.outage.begin(reason)
        for client in (self.client, self.waiting_client):
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await client.connection_pool.disconnect(inuse_connections=True)
            except (TimeoutError, RedisConnectionError, RedisTimeoutError, OSError) as error:
                log.warning("bus: dropping the connections to %s failed: %r", self.url, error)

    def unavailable(self, error: BaseException) -> BusUnavailable:
        if "connecting to" in str(error):  # how redis-py words a failed connect
            return BusUnavailable(f"cannot reach the Redis bus at {self.url}: {error} (is redis-server running there?)")
        return BusUnavailable(
            f"lost the connection to the Redis bus at {self.url}: {error}; a request in flight may or may not "
            "have been applied, and the next call reconnects"
        )

    async def close(self) -> None:
        await self.client.aclose()
        await self.waiting_client.aclose()


class RedisBus(BusClient):
    """Concurrency: redis.asyncio hands each concurrent command its own pooled connection, so a
    BLPOP waiting 5 s occupies one connection and never delays a publish on another."""

    def __init__(self, address: RedisAddress, connect_timeout: float = 2.0) -> None:
        self.url = address.url
        self.max_waiting = address.max_waiting
        self._redis = RedisConnections(address, connect_timeout)
        self._publish = self._redis.client.register_script(PUBLISH_SCRIPT)
        self._pop = self._redis.client.register_script(POP_SCRIPT)
        self._channels: set[ChannelSubscription] = set()  # to close them with the client

    async def connect(self) -> RedisBus:
        await self._redis.run(self._redis.client.ping(), deadline=self._redis.connect_timeout)
        return self

    async def ping(self) -> None:
        await self._redis.run(self._redis.client.ping())

    async def create_subscription(self, topic: str, name: str) -> None:
        prefix = _topic_prefix(check_name("topic", topic))
        await self._redis.run(self._redis.client.sadd(prefix + "subs", quote(check_name("subscription", name), safe="")))

    async def delete_subscription(self, topic: str, name: str) -> bool:
        prefix = _topic_prefix(check_name("topic", topic))
        quoted = quote(check_name("subscription", name), safe="")
        async with self._redis.client.pipeline(transaction=True) as pipe:
            pipe.srem(prefix + "subs", quoted).delete(prefix + "queue:" + quoted).hdel(prefix + "dropped", quoted)
            removed, _, _ = await self._redis.run(pipe.execute())
        return bool(removed)

    async def publish(self, topic: str, message: bytes | str) -> int:
        prefix = _topic_prefix(check_name("topic", topic))
        data = to_bytes(message)
        keys = [prefix + "subs", prefix + "dropped"]
        return int(await self._redis.run(self._publish(keys=keys, args=[data, self.max_waiting, prefix + "queue:"])))

    async def receive(self, topic: str, name: str, timeout: float) -> bytes | None:
        prefix = _topic_prefix(check_name("topic", topic))
        quoted = quote(check_name("subscription", name), safe="")
        subs_key, queue_key = prefix + "subs", prefix + "queue:" + quoted
        found = await self._redis.run(self._pop(keys=[subs_key, queue_key], args=[quoted]), patience=float(timeout))
        if found[0] == 0:
            raise NoSuchSubscription(f"topic {topic!r} has no subscription {name!r}")
        if len(found) > 1:
            return found[1]
        # A long wait is cut into BLPOPs of at most health_check seconds: a BLPOP connection
        # carries nothing while it waits, so this is how a silent one is noticed in time, and
        # it bounds how long a BLPOP stranded by a partition can take a message and lose it.
        loop = asyncio.get_running_loop()
        end = loop.time() + float(timeout)
        while (remaining := end - loop.time()) > 0:
            chunk = min(remaining, self._redis.options.health_check or remaining)
            wait = max(chunk, 0.001)  # BLPOP treats a timeout that rounds to 0 ms as "wait forever"
            popped = await self._redis.run(self._redis.waiting_client.blpop([queue_key], timeout=wait), extra_wait=wait)
            if popped:
                return popped[1]
        return None

    async def subscription_stats(self, topic: str) -> list[SubscriptionStats]:
        prefix = _topic_prefix(check_name("topic", topic))
        names = sorted(await self._redis.run(self._redis.client.smembers(prefix + "subs")))
        if not names:
            return []
        async with self._redis.client.pipeline(transaction=False) as pipe:
            for quoted in names:
                pipe.llen(prefix + "queue:" + quoted.decode())
            pipe.hgetall(prefix + "dropped")
            *lengths, dropped = await self._redis.run(pipe.execute())
        stats = [
            SubscriptionStats(unquote(quoted.decode()), int(length), int(dropped.get(quoted, 0)))
            for quoted, length in zip(names, lengths)
        ]
        return sorted(stats, key=lambda s: s.name)

    async def publish_channel(self, channel: str, message: bytes | str) -> int:
        key = f"pysupervise:bus:channel:{check_name('channel', channel)}"
        return int(await self._redis.run(self._redis.client.publish(key, to_bytes(message))))

    def subscribe(self, channel: str, max_buffered: int = DEFAULT_CHANNEL_BUFFER) -> ChannelSubscription:
        subscription = RedisChannelSubscription(self._redis, check_name("channel", channel), max_buffered, self._channels.discard)
        self._channels.add(subscription)
        return subscription

    async def close(self) -> None:
        for subscription in list(self._channels):
            await subscription.aclose()
        self._channels.clear()
        await self._redis.close()


class RedisCache(CacheClient):
    def __init__(self, address: RedisAddress, connect_timeout: float = 2.0) -> None:
        self.url = address.url
        self._redis = RedisConnections(address, connect_timeout)

    async def connect(self) -> RedisCache:
        await self._redis.run(self._redis.client.ping(), deadline=self._redis.connect_timeout)
        return self

    async def get(self, key: str) -> bytes | None:
        return await self._redis.run(self._redis.client.get(_cache_key(key)))

    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        # Without px, SET also clears an earlier expiry: the same as the embedded store.
        px = None if check_ttl(ttl) is None else max(1, round(ttl * 1000))
        await self._redis.run(self._redis.client.set(_cache_key(key), to_bytes(value), px=px))

    async def delete(self, key: str) -> bool:
        return bool(await self._redis.run(self._redis.client.delete(_cache_key(key))))

    async def incr(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        name = _cache_key(key)
        try:
            if check_ttl(ttl) is None:
                return int(await self._redis.run(self._redis.client.incrby(name, int(by))))
            return await self._redis.run(self._incr_and_expire(name, int(by), max(1, round(ttl * 1000))))
        except ResponseError:
            raise NotAnInteger(f"cache key {key!r} does not hold a decimal integer") from None

    async def _incr_and_expire(self, name: str, by: int, milliseconds: int) -> int:
        # MULTI/EXEC: no other client sees the new value without its new expiry.
        async with self._redis.client.pipeline(transaction=True) as pipe:
            pipe.incrby(name, by)
            pipe.pexpire(name, milliseconds)
            value, _ = await pipe.execute()
        return int(value)

    async def close(self) -> None:
        await self._redis.close()


def _cache_key(key: str) -> str:
    return "pysupervise:cache:" + check_name("cache key", key)
