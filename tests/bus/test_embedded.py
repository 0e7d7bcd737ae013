"""What only the embedded broker promises: its stats, cancelled receives lose nothing, bad clients, uvloop."""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
from typing import AsyncIterator

import pytest
import uvloop

from pysupervise import bus
from pysupervise.bus.broker import EmbeddedBroker
from tests.bus.servers import eventually, short_tempdir


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    broker = EmbeddedBroker(short_tempdir() / "bus.sock", max_waiting=3)
    await broker.start()
    try:
        yield broker
    finally:
        await broker.close()
        shutil.rmtree(broker.socket_path.parent, ignore_errors=True)


async def test_stats_count_topics_waiting_drops_channels_and_cache_keys(broker: EmbeddedBroker) -> None:
    async with await bus.connect(broker.url) as client, await bus.connect_cache(broker.url) as cache:
        await client.create_subscription("photos", "f1")
        await client.create_subscription("photos", "f2")
        for i in range(5):
            await client.publish("photos", f"{i}")
        await client.receive("photos", "f2", timeout=0)
        await cache.set("k", b"v")
        async with client.subscribe("chat"):
            stats = broker.stats()
    assert stats["url"] == broker.url and stats["max_waiting"] == 3
    assert stats["topics"] == 1
    assert stats["subscriptions"] == {
        "photos": {"f1": {"waiting": 3, "dropped": 2, "receivers": 0}, "f2": {"waiting": 2, "dropped": 2, "receivers": 0}}
    }
    assert stats["channels"] == {"chat": {"subscribers": 1, "dropped": 0}}
    assert stats["cache_keys"] == 1
    assert stats["connections"] == 2


async def test_a_cancelled_receive_loses_no_message(broker: EmbeddedBroker) -> None:
    async with await bus.connect(broker.url) as client:
        await client.create_subscription("t", "s")
        for _ in range(20):  # cancel at every point between "sent" and "answered"
            waiting = asyncio.create_task(client.receive("t", "s", timeout=10))
            await asyncio.sleep(0.001)
            publishing = asyncio.create_task(client.publish("t", b"keep me"))
            await asyncio.sleep(0)
            waiting.cancel()
            await publishing
            try:
                got = await waiting
            except asyncio.CancelledError:
                got = None
            if got is None:  # not handed to the cancelled receive, so it must still be there
                assert await eventually(lambda: client.receive("t", "s", timeout=0.5), "the message back") == b"keep me"
            assert await client.subscriptions("t") == [("s", 0)]
        assert broker.stats()["subscriptions"]["t"]["s"]["receivers"] == 0


async def test_deleting_a_subscription_answers_its_waiting_receivers(broker: EmbeddedBroker) -> None:
    async with await bus.connect(broker.url) as reader, await bus.connect(broker.url) as admin:
        await reader.create_subscription("t", "s")
        waiting = asyncio.create_task(reader.receive("t", "s", timeout=30))
        await eventually(lambda: _receivers(broker, "t", "s"), "the receive to be parked")
        assert await admin.delete_subscription("t", "s")
        async with asyncio.timeout(5):
            assert await waiting is None


async def test_a_client_sending_garbage_is_dropped_and_others_carry_on(broker: EmbeddedBroker) -> None:
    async with await bus.connect(broker.url) as client:
        reader, writer = await asyncio.open_unix_connection(str(broker.socket_path))
        writer.write(struct.pack("!I", 0xFFFFFFF0) + b"junk")  # a length far over the frame limit
        async with asyncio.timeout(5):
            assert await reader.read() == b""  # the broker hung up on it
        writer.close()
        await client.create_subscription("t", "s")
        assert await client.publish("t", b"fine") == 1


async def test_unknown_op_gets_an_error_reply_not_a_hang(broker: EmbeddedBroker) -> None:
    from pysupervise.bus.protocol import ErrorCode, FrameDecoder, Op, encode_frame

    reader, writer = await asyncio.open_unix_connection(str(broker.socket_path))
    writer.write(encode_frame(7, 99, b"x"))
    async with asyncio.timeout(5):
        (frame,) = FrameDecoder().feed(await reader.read(4096))
    assert (frame.request_id, frame.op, frame.args[0]) == (7, Op.ERROR, ErrorCode.BAD_REQUEST)
    writer.close()


async def test_a_client_from_another_protocol_version_is_told_so(broker: EmbeddedBroker) -> None:
    from pysupervise.bus.protocol import ErrorCode, FrameDecoder, Op, encode_frame

    reader, writer = await asyncio.open_unix_connection(str(broker.socket_path))
    writer.write(encode_frame(1, Op.HELLO, b"999"))
    async with asyncio.timeout(5):
        (frame,) = FrameDecoder().feed(await reader.read(4096))
    assert frame.op == Op.ERROR and frame.args[0] == ErrorCode.VERSION
    assert b"restart the app" in frame.args[1]
    writer.close()


async def test_socket_is_private_and_removed_on_close() -> None:
    path = short_tempdir() / "bus.sock"
    path.write_text("left over by a master that was killed")
    broker = EmbeddedBroker(path)
    await broker.start()
    assert path.stat().st_mode & 0o777 == 0o600
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(str(path))
    await broker.close()
    assert not path.exists()
    shutil.rmtree(path.parent)


def test_broker_and_client_run_under_uvloop() -> None:
    async def scenario() -> list[bytes | None]:
        broker = EmbeddedBroker(short_tempdir() / "bus.sock")
        await broker.start()
        try:
            async with await bus.connect(broker.url) as client:
                await client.create_subscription("t", "s")
                waiting = asyncio.create_task(client.receive("t", "s", timeout=5))
                await asyncio.sleep(0.01)
                await client.publish("t", b"via uvloop")
                async with client.subscribe("c") as channel:
                    await client.publish_channel("c", b"fan-out")
                    return [await waiting, await channel.get(timeout=5)]
        finally:
            await broker.close()
            shutil.rmtree(broker.socket_path.parent, ignore_errors=True)

    assert uvloop.run(scenario()) == [b"via uvloop", b"fan-out"]


async def _receivers(broker: EmbeddedBroker, topic: str, name: str) -> int:
    return broker.stats()["subscriptions"][topic][name]["receivers"]
