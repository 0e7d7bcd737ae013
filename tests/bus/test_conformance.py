"""The shared conformance suite: every test runs against the embedded broker and against a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from pysupervise import bus
from tests.bus.conftest import Backend
from tests.bus.servers import eventually


async def test_messages_published_before_anyone_receives_are_kept(client: bus.BusClient) -> None:
    await client.create_subscription("photos", "frontend-1")
    assert await client.publish("photos", b"one") == 1
    assert await client.publish("photos", "two") == 1  # str goes out as UTF-8
    assert await client.subscriptions("photos") == [("frontend-1", 2)]

    assert await client.receive("photos", "frontend-1", timeout=1) == b"one"
    assert await client.receive("photos", "frontend-1", timeout=1) == b"two"
    assert await client.subscriptions("photos") == [("frontend-1", 0)]  # receive deletes
    assert await client.receive("photos", "frontend-1", timeout=0) is None


async def test_ping_answers_while_the_bus_is_up(client: bus.BusClient) -> None:
    async with asyncio.timeout(5):
        assert await client.ping() is None


async def test_receive_times_out_with_none(client: bus.BusClient) -> None:
    await client.create_subscription("photos", "idle")
    async with asyncio.timeout(5):
        assert await client.receive("photos", "idle", timeout=0.2) is None


async def test_waiting_receive_does_not_block_other_calls_on_the_same_client(backend: Backend, client: bus.BusClient) -> None:
    await client.create_subscription("photos", "waiting")
    await client.create_subscription("photos", "other")
    waiting = asyncio.create_task(client.receive("photos", "waiting", timeout=10))
    await eventually(lambda: _is_one(backend.parked_receives()), "the receive to wait on the server")
    async with asyncio.timeout(2):  # far less than the receive's 10 s
        assert await client.subscriptions("photos") == [("other", 0), ("waiting", 0)]
        assert await client.publish("photos", b"wake up") == 2
    async with asyncio.timeout(5):
        assert await waiting == b"wake up"
    assert await client.subscriptions("photos") == [("other", 1), ("waiting", 0)]


async def test_fan_out_to_three_subscriptions_while_one_is_not_read(backend: Backend, client: bus.BusClient) -> None:
    for name in ("a", "b", "dead"):
        await client.create_subscription("feed", name)
    readers = {name: await backend.client() for name in ("a", "b")}
    got: dict[str, list[bytes]] = {"a": [], "b": []}

    async def drain(name: str) -> None:
        while len(got[name]) < 20:
            message = await readers[name].receive("feed", name, timeout=5)
            if message is not None:
                got[name].append(message)

    drainers = [asyncio.create_task(drain(name)) for name in got]
    for i in range(20):
        assert await client.publish("feed", f"m{i}") == 3
    async with asyncio.timeout(10):
        await asyncio.gather(*drainers)

    expected = [f"m{i}".encode() for i in range(20)]
    assert got == {"a": expected, "b": expected}
    assert dict(await client.subscriptions("feed")) == {"a": 0, "b": 0, "dead": 20}


async def test_subscriptions_list_and_delete(client: bus.BusClient) -> None:
    assert await client.subscriptions("t") == []
    assert await client.publish("t", b"nobody listens") == 0  # a topic without subscriptions keeps nothing
    await client.create_subscription("t", "z")
    await client.create_subscription("t", "a")
    await client.create_subscription("t", "a")  # creating twice is harmless
    await client.publish("t", b"x")
    assert await client.subscriptions("t") == [("a", 1), ("z", 1)]
    assert [s.name for s in await client.subscription_stats("t")] == ["a", "z"]

    assert await client.delete_subscription("t", "a") is True
    assert await client.delete_subscription("t", "a") is False
    assert await client.subscriptions("t") == [("z", 1)]
    with pytest.raises(bus.NoSuchSubscription, match="'a'"):
        await client.receive("t", "a", timeout=0.1)
    await client.create_subscription("t", "a")  # comes back empty
    assert await client.subscriptions("t") == [("a", 0), ("z", 1)]


async def test_names_with_separators_do_not_collide(client: bus.BusClient) -> None:
    await client.create_subscription("a:queue:b", "c")
    await client.create_subscription("a", "b:c")
    await client.publish("a", b"for a")
    assert await client.subscriptions("a:queue:b") == [("c", 0)]
    assert await client.receive("a", "b:c", timeout=1) == b"for a"


async def test_max_waiting_drops_the_oldest_and_counts_them(backend: Backend) -> None:
    client = await backend.client(await backend.url_with(max_waiting=5))
    await client.create_subscription("t", "slow")
    for i in range(8):
        await client.publish("t", f"m{i}")
    assert await client.subscription_stats("t") == [bus.SubscriptionStats("slow", waiting=5, dropped=3)]
    received = [await client.receive("t", "slow", timeout=1) for _ in range(5)]
    assert received == [f"m{i}".encode() for i in range(3, 8)]


async def test_channel_messages_reach_every_worker_exactly_once(backend: Backend, client: bus.BusClient) -> None:
    workers = [await backend.client() for _ in range(4)]
    subscriptions = [await w.subscribe("chat").open() for w in workers]
    try:
        for i in range(10):
            assert await client.publish_channel("chat", f"line {i}") == 4
        for subscription in subscriptions:
            async with asyncio.timeout(5):
                got = [await subscription.get() for _ in range(10)]
            assert got == [f"line {i}".encode() for i in range(10)]
            assert await subscription.get(timeout=0.1) is None  # and nothing twice
    finally:
        for subscription in subscriptions:
            await subscription.aclose()
    # Redis drops a pub/sub client once it has read the unsubscribe, which may be just after.
    await eventually(lambda: _is_zero(client.publish_channel("chat", b"after")), "nobody to be subscribed after aclose")


async def test_channel_with_async_for_and_context_manager(client: bus.BusClient) -> None:
    async with client.subscribe("news") as subscription:
        await client.publish_channel("news", b"first")
        await client.publish_channel("news", b"second")
        received = []
        async with asyncio.timeout(5):
            async for message in subscription:
                received.append(message)
                if len(received) == 2:
                    break
    assert received == [b"first", b"second"]
    await eventually(lambda: _is_zero(client.publish_channel("news", b"nobody")), "nobody to be subscribed after the block")


async def test_bare_async_for_subscribes_on_first_use(client: bus.BusClient) -> None:
    async def first_message() -> bytes:
        async for message in client.subscribe("ticks"):
            return message
        raise AssertionError("the subscription ended")

    reader = asyncio.create_task(first_message())
    # The subscription is only live once the loop has started: publish until it is heard.
    await eventually(lambda: _publish_until_done(client, "ticks", reader), "the bare async-for to get a message")
    assert await reader == b"tick"


async def test_cache_get_set_delete_incr(cache: bus.CacheClient) -> None:
    assert await cache.get("missing") is None
    await cache.set("greeting", "hello")
    assert await cache.get("greeting") == b"hello"
    await cache.set("greeting", b"\x00binary\xff")
    assert await cache.get("greeting") == b"\x00binary\xff"
    assert await cache.delete("greeting") is True
    assert await cache.delete("greeting") is False
    assert await cache.get("greeting") is None

    assert await cache.incr("hits") == 1
    assert await cache.incr("hits", by=5) == 6
    assert await cache.incr("hits", by=-2) == 4
    assert await cache.get("hits") == b"4"
    await cache.set("text", "not a number")
    with pytest.raises(bus.NotAnInteger, match="'text'"):
        await cache.incr("text")
    with pytest.raises(ValueError):
        await cache.set("k", "v", ttl=0)


async def test_cache_entries_expire(cache: bus.CacheClient) -> None:
    await cache.set("short", b"v", ttl=0.2)
    await cache.set("forever", b"v")
    assert await cache.get("short") == b"v"
    await eventually(lambda: _is_none(cache.get("short")), "the 0.2 s entry to expire")
    assert await cache.get("forever") == b"v"


async def test_incr_keeps_an_existing_ttl(cache: bus.CacheClient) -> None:
    await cache.set("window", b"10", ttl=0.2)
    assert await cache.incr("window") == 11
    await eventually(lambda: _is_none(cache.get("window")), "the counter to expire with its ttl")


async def test_incr_with_a_ttl_restarts_the_expiry(cache: bus.CacheClient) -> None:
    await cache.set("sliding", b"1")  # no expiry yet
    assert await cache.incr("sliding", ttl=0.3) == 2
    assert await cache.incr("sliding", by=3, ttl=60) == 5  # each increment restarts the window
    assert await cache.incr("fresh", ttl=0.4) == 1
    await eventually(lambda: _is_none(cache.get("fresh")), "a counter made by incr(ttl=) to expire")
    assert await cache.get("sliding") == b"5"  # its 0.3 s are long gone: the second incr restarted them
    with pytest.raises(ValueError):
        await cache.incr("sliding", ttl=0)


async def test_many_concurrent_tasks_share_one_client(client: bus.BusClient) -> None:
    await client.create_subscription("load", "s")
    async with asyncio.timeout(10):
        counts = await asyncio.gather(*(client.publish("load", f"{i}") for i in range(200)))
        assert counts == [1] * 200
        received = await asyncio.gather(*(client.receive("load", "s", timeout=5) for _ in range(200)))
    assert sorted(int(m) for m in received) == list(range(200))


async def _is_one(value: int) -> bool:
    return value == 1


async def _publish_until_done(client: bus.BusClient, channel: str, reader: asyncio.Task[bytes]) -> bool:
    if not reader.done():
        await client.publish_channel(channel, b"tick")
    return reader.done()


async def _is_none(awaitable) -> bool:  # type: ignore[no-untyped-def]
    return await awaitable is None


async def _is_zero(awaitable) -> bool:  # type: ignore[no-untyped-def]
    return await awaitable == 0
