"""The backend-neutral client interfaces (BusClient, CacheClient) and the checks every backend shares."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from .protocol import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    from .channel import ChannelSubscription

DEFAULT_CHANNEL_BUFFER = 10_000


@dataclass(frozen=True)
class SubscriptionStats:
    name: str
    waiting: int  # messages kept for this subscription that nobody has received yet
    dropped: int  # oldest messages thrown away because `waiting` reached max_waiting


def to_bytes(message: bytes | bytearray | memoryview | str) -> bytes:
    """Messages are bytes on the wire; str is sent as UTF-8 so apps can publish text directly."""
    if isinstance(message, str):
        data = message.encode("utf-8")
    elif isinstance(message, (bytes, bytearray, memoryview)):
        data = bytes(message)
    else:
        raise TypeError(f"a bus message must be bytes or str, not {type(message).__name__}")
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValueError(f"a bus message may be at most {MAX_MESSAGE_BYTES} bytes; this one is {len(data)}")
    return data


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a {kind} name must be a non-empty str, not {name!r}")
    if len(name) > 1024:
        raise ValueError(f"a {kind} name may be at most 1024 characters: {name[:40]!r}...")
    return name


def check_ttl(ttl: float | None) -> float | None:
    if ttl is not None and not ttl > 0:
        raise ValueError(f"a cache ttl must be a positive number of seconds or None, not {ttl!r}")
    return ttl


class BusClient(abc.ABC):
    """Topics with durable subscriptions, and fan-out channels.

    Topics: `publish(topic, msg)` stores one copy of msg in every subscription of the topic
    that exists at that moment (none → the message goes nowhere, as with a Service Bus topic);
    each copy waits until one `receive(topic, name, ...)` takes it. Channels: `publish_channel`
    hands msg to every `subscribe(channel)` open at that moment and keeps nothing.

    One client may be shared by any number of asyncio tasks. Every call raises BusUnavailable
    when the bus cannot be reached or does not answer within the URL's request_timeout; once
    it has been silent, calls fail at once until it answers again (see outage.py).
    """

    url: str

    @abc.abstractmethod
    async def ping(self) -> None:
        """One round trip to the bus (a health check); raises BusUnavailable as every call does."""

    @abc.abstractmethod
    async def create_subscription(self, topic: str, name: str) -> None:
        """Create the durable subscription `name` on `topic`; no-op if it exists."""

    @abc.abstractmethod
    async def delete_subscription(self, topic: str, name: str) -> bool:
        """Delete the subscription and its waiting messages; True if it existed."""

    @abc.abstractmethod
    async def publish(self, topic: str, message: bytes | str) -> int:
        """Store message in every subscription of topic; returns how many got it.

        Returns only once the broker (or Redis) holds it.
        """

    @abc.abstractmethod
    async def receive(self, topic: str, name: str, timeout: float) -> bytes | None:
        """Take the oldest waiting message of the subscription, waiting up to timeout seconds.

        Returns None on timeout (timeout=0: do not wait). Raises NoSuchSubscription.
        """

    @abc.abstractmethod
    async def subscription_stats(self, topic: str) -> list[SubscriptionStats]:
        """Every subscription of topic with its waiting and dropped counts, sorted by name."""

    async def subscriptions(self, topic: str) -> list[tuple[str, int]]:
        """[(name, waiting_count)] for every subscription of topic, sorted by name."""
        return [(s.name, s.waiting) for s in await self.subscription_stats(topic)]

    @abc.abstractmethod
    async def publish_channel(self, channel: str, message: bytes | str) -> int:
        """Send message to every open subscribe(channel); returns how many subscriptions got it."""

    @abc.abstractmethod
    def subscribe(self, channel: str, max_buffered: int = DEFAULT_CHANNEL_BUFFER) -> ChannelSubscription:
        """Messages of one channel: `async with client.subscribe(ch) as sub: async for msg in sub`.

        The subscription is live once `async with` has entered (or `await sub.open()` returned);
        a bare `async for msg in client.subscribe(ch)` also works and opens it on first use.
        It survives connection losses and silent partitions by itself; the messages it could
        not get meanwhile are reported by one MessagesMissed from get() / the loop:

            async with client.subscribe(ch) as sub:
                while True:
                    try:
                        async for msg in sub: ...
                    except bus.MessagesMissed as gap: ...  # re-read any state; sub is live again
        """

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> BusClient:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()


class CacheClient(abc.ABC):
    """A shared key/value cache: bytes values, optional expiry, atomic integer counters."""

    url: str

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def set(self, key: str, value: bytes | str, ttl: float | None = None) -> None:
        """Store value; it expires after ttl seconds (None: never). Replaces any earlier ttl."""

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove key; True if it existed."""

    @abc.abstractmethod
    async def incr(self, key: str, by: int = 1, ttl: float | None = None) -> int:
        """Add `by` to the integer stored at key (missing → 0) and return the result.

        The value is stored as ASCII decimal, so get() returns e.g. b"3". With ttl the key expires ttl
        seconds after this call, in the same atomic step (a sliding expiry); without, an existing ttl is kept.
        Raises NotAnInteger if the value is not a decimal integer.
        """

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> CacheClient:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()
