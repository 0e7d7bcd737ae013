"""The pure parts: frame coding, the expiring store, URL parsing, a channel's buffer with its gap markers, and that
importing the client stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pysupervise.bus import BusConfigError, ChannelSubscription, ClientOptions, MessagesMissed
from pysupervise.bus.cache_store import CacheStore
from pysupervise.bus.protocol import FrameDecoder, Op, ProtocolError, encode_frame
from pysupervise.bus.urls import EmbeddedAddress, RedisAddress, embedded_url, parse_url


def test_frames_survive_any_split_of_the_byte_stream() -> None:
    stream = encode_frame(1, Op.PUBLISH, b"topic", b"") + encode_frame(2, Op.OK) + encode_frame(3, Op.PUSH, b"\x00" * 70_000)
    decoder = FrameDecoder()
    frames = [frame for i in range(0, len(stream), 7) for frame in decoder.feed(stream[i : i + 7])]
    assert [(f.request_id, f.op, f.args) for f in frames] == [
        (1, Op.PUBLISH, (b"topic", b"")),
        (2, Op.OK, ()),
        (3, Op.PUSH, (b"\x00" * 70_000,)),
    ]


def test_oversized_or_truncated_frames_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError, match="frame length"):
        FrameDecoder(max_frame=100).feed(encode_frame(1, Op.PUBLISH, b"x" * 200))
    bad_body = (9).to_bytes(4, "big") + (1).to_bytes(4, "big") + bytes([Op.PUBLISH]) + (50).to_bytes(4, "big")
    with pytest.raises(ProtocolError, match="runs past"):
        FrameDecoder().feed(bad_body)


class FakeClock:
    """The store's clock is a collaborator; turning it by hand tests expiry without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_store_expiry_and_sweep() -> None:
    clock = FakeClock()
    store = CacheStore(clock)
    store.set("a", b"1", ttl=10)
    store.set("b", b"2", ttl=None)
    store.set("c", b"3", ttl=5)
    store.set("c", b"3", ttl=30)  # extended: must survive the first deadline
    clock.now += 11
    assert store.get("a") is None  # invisible at once, even before a sweep
    assert store.sweep() == 0  # "a" was already dropped by the read
    assert store.get("c") == b"3" and store.get("b") == b"2"
    clock.now += 20
    assert store.sweep() == 1 and len(store) == 1


def test_cache_store_heap_stays_bounded_under_set_delete_churn() -> None:
    store = CacheStore(FakeClock())
    for i in range(10_000):
        store.set("lock", b"x", ttl=60)
        store.delete("lock")
    store.sweep()
    assert len(store._expiry_heap) <= 1024 + 2


def test_cache_store_incr() -> None:
    store = CacheStore(FakeClock())
    assert store.incr("n", 2) == 2 and store.get("n") == b"2"
    store.set("s", b"abc", None)
    with pytest.raises(ValueError):
        store.incr("s", 1)


def test_url_parsing() -> None:
    assert parse_url("pysupervise+unix:///srv/run/bus.sock") == EmbeddedAddress(Path("/srv/run/bus.sock"), "pysupervise+unix:///srv/run/bus.sock")
    assert parse_url(embedded_url(Path("/tmp/with space/bus.sock"))).socket_path == Path("/tmp/with space/bus.sock")  # type: ignore[union-attr]
    redis = parse_url("redis://:hunter2@localhost:6379/2?max_waiting=7")
    assert isinstance(redis, RedisAddress) and redis.max_waiting == 7
    assert "hunter2" not in redis.url and "hunter2" in redis.redis_url and "max_waiting" not in redis.redis_url
    for bad, message in [
        ("pysupervise+unix://relative/bus.sock", "absolute path"),
        ("redis://localhost?max_waiting=lots", "max_waiting must be an integer"),
        ("redis://localhost?max_waiting=0", "at least 1"),
        ("amqp://localhost", "unknown scheme"),
        ("redis://localhost?health_check=-1", "health_check must be a number of seconds"),
        ("redis://localhost?request_timeout=0", "request_timeout must be a number of seconds above 0"),
        ("pysupervise+unix:///srv/bus.sock?max_waiting=3", "unknown query parameter 'max_waiting'"),
    ]:
        with pytest.raises(BusConfigError, match=message):
            parse_url(bad)


def test_url_client_options_for_either_backend() -> None:
    assert parse_url("redis://localhost/0").options == ClientOptions(request_timeout=5.0, health_check=5.0)  # type: ignore[union-attr]
    redis = parse_url("redis://localhost/0?health_check=0.5&request_timeout=2&socket_keepalive=true")
    assert isinstance(redis, RedisAddress) and redis.options == ClientOptions(request_timeout=2.0, health_check=0.5)
    assert redis.redis_url == "redis://localhost/0?socket_keepalive=true"  # redis-py gets only its own
    embedded = parse_url("pysupervise+unix:///srv/bus.sock?health_check=0")
    assert isinstance(embedded, EmbeddedAddress) and embedded.options.health_check == 0


class BufferOnly(ChannelSubscription):
    """The backend-neutral part alone: the tests play the backend's calls (_deliver, _cut, _resumed)."""

    async def _open(self) -> None:
        pass

    async def _close(self) -> None:
        pass


async def test_a_gap_is_raised_once_in_its_place_and_survives_overflow() -> None:
    subscription = await BufferOnly("room", max_buffered=3).open()
    subscription._deliver(b"1")
    subscription._cut("connection lost", since=100.0)
    assert not subscription.connected
    subscription._resumed()
    assert subscription.connected and subscription.gaps == 1
    for message in (b"2", b"3", b"4"):  # one over max_buffered: the oldest message goes, never the gap
        subscription._deliver(message)
    assert subscription.dropped == 1
    with pytest.raises(MessagesMissed, match="channel 'room'.*connection lost.*live again") as gap:
        await subscription.get(timeout=0)
    assert gap.value.since == 100.0 and gap.value.until >= gap.value.since
    assert [await subscription.get(timeout=0) for _ in range(4)] == [b"2", b"3", b"4", None]


async def test_two_gaps_with_nothing_between_them_are_reported_once() -> None:
    subscription = await BufferOnly("room", max_buffered=2).open()
    for since in (100.0, 200.0):
        subscription._cut(f"outage at {since:g}", since=since)
        subscription._resumed()
    subscription._deliver(b"a")
    with pytest.raises(MessagesMissed, match="outage at 200") as gap:
        await subscription.get(timeout=0)
    assert gap.value.since == 100.0 and subscription.gaps == 1
    assert await subscription.get(timeout=0) == b"a"
    await subscription.aclose()


def test_importing_the_client_loads_neither_redis_nor_aiohttp_nor_the_master() -> None:
    code = (
        "import sys; from pysupervise import bus; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'aiohttp') "
        "or m.startswith(('pysupervise.supervisor', 'pysupervise.proxy', 'pysupervise.config'))); "
        "print(heavy)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
