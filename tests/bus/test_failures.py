"""When the broker or Redis is missing, dies or comes back: clear errors fast, and the client recovers by itself."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path
from typing import AsyncIterator

import pytest

from pysupervise import bus
from pysupervise.bus.broker import EmbeddedBroker
from pysupervise.bus.urls import embedded_url
from tests.bus.servers import RedisServer, eventually, free_port, redis_blocked_clients, short_tempdir

DEADLINE = 5.0  # "quickly": far below anything that would look like a hang


@pytest.fixture(params=["embedded", "redis"])
def unreachable_url(request: pytest.FixtureRequest, short_dir: Path) -> str:
    if request.param == "embedded":
        return embedded_url(short_dir / "no-master-here.sock")
    return f"redis://127.0.0.1:{free_port()}/0"


async def test_unreachable_bus_raises_a_clear_error_quickly(unreachable_url: str) -> None:
    async with asyncio.timeout(DEADLINE):
        with pytest.raises(bus.BusUnavailable, match=r"cannot reach the (pysupervise|Redis) bus at .*(no socket at|is redis-server running)"):
            await bus.connect(unreachable_url)
        with pytest.raises(bus.BusUnavailable, match="cannot reach"):
            await bus.connect_cache(unreachable_url)


async def test_stale_socket_file_is_reported_as_such(short_dir: Path) -> None:
    path = short_dir / "bus.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))  # the file stays, nobody listens: what a killed master leaves
    async with asyncio.timeout(DEADLINE):
        with pytest.raises(bus.BusUnavailable, match="nothing listens on"):
            await bus.connect(embedded_url(path))


@pytest.mark.parametrize("kind", ["embedded", "redis"])
async def test_a_server_that_accepts_but_never_answers_fails_within_the_connect_timeout(kind: str, short_dir: Path) -> None:
    if kind == "embedded":
        silent = socket.socket(socket.AF_UNIX)
        path = short_dir / "bus.sock"
        silent.bind(str(path))
        url = embedded_url(path)
    else:
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    silent.listen(8)  # the kernel completes connects; nobody ever reads
    try:
        async with asyncio.timeout(DEADLINE):
            with pytest.raises(bus.BusUnavailable, match="no answer within 0.3s"):
                await bus.connect(url, connect_timeout=0.3)
    finally:
        silent.close()


async def test_missing_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYSUPERVISE_BUS", raising=False)
    monkeypatch.delenv("PYSUPERVISE_CACHE", raising=False)
    with pytest.raises(bus.BusConfigError, match="PYSUPERVISE_BUS is not set"):
        await bus.connect()
    with pytest.raises(bus.BusConfigError, match="PYSUPERVISE_CACHE nor PYSUPERVISE_BUS"):
        await bus.connect_cache()
    with pytest.raises(bus.BusConfigError, match="unknown scheme 'http'"):
        await bus.connect("http://localhost/")


class Restartable:
    """A backend that can be stopped and started again at the same address."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.redis = RedisServer() if kind == "redis" else None
        self.socket_path = short_tempdir() / "bus.sock"
        self.broker: EmbeddedBroker | None = None

    @property
    def url(self) -> str:
        return self.redis.url if self.redis is not None else embedded_url(self.socket_path)

    async def start(self) -> None:
        if self.redis is not None:
            await asyncio.to_thread(self.redis.start)
        else:
            self.broker = EmbeddedBroker(self.socket_path)
            await self.broker.start()

    async def stop(self) -> None:
        if self.redis is not None:
            await asyncio.to_thread(self.redis.stop)
        elif self.broker is not None:
            await self.broker.close()
            self.broker = None

    async def parked_receive(self) -> bool:
        if self.redis is not None:
            return redis_blocked_clients(self.redis.port) == 1
        assert self.broker is not None
        return self.broker.stats()["subscriptions"]["t"]["s"]["receivers"] == 1

    async def cleanup(self) -> None:
        await self.stop()
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)
        if self.redis is not None:
            shutil.rmtree(self.redis.dir, ignore_errors=True)


@pytest.fixture(params=["embedded", "redis"])
async def restartable(request: pytest.FixtureRequest) -> AsyncIterator[Restartable]:
    server = Restartable(request.param)
    await server.start()
    try:
        yield server
    finally:
        await server.cleanup()


async def test_clients_recover_after_the_server_restarts(restartable: Restartable) -> None:
    client = await bus.connect(restartable.url)
    cache = await bus.connect_cache(restartable.url)
    try:
        await client.create_subscription("t", "s")
        await cache.set("k", b"before")
        channel = await client.subscribe("room").open()
        waiting = asyncio.create_task(client.receive("t", "s", timeout=30))
        await eventually(restartable.parked_receive, "the receive to wait on the server before it goes away")

        await restartable.stop()
        async with asyncio.timeout(DEADLINE):
            with pytest.raises(bus.BusUnavailable):
                await waiting  # a request in flight fails clearly instead of hanging
            with pytest.raises(bus.BusUnavailable, match="cannot reach"):
                await client.publish("t", b"while down")
            with pytest.raises(bus.BusUnavailable, match="cannot reach"):
                await cache.get("k")

        await restartable.start()
        async with asyncio.timeout(DEADLINE):
            # Same address, state gone (neither backend persists): the next calls just work.
            await client.create_subscription("t", "s")
            assert await client.publish("t", b"after") == 1
            assert await client.receive("t", "s", timeout=1) == b"after"
            assert await cache.get("k") is None
            await cache.set("k", b"after")
            assert await cache.get("k") == b"after"

        # The open channel subscription comes back by itself, and says that messages sent while it
        # was down are missed: one MessagesMissed, in its place in the stream, on either backend.
        gaps: list[bus.MessagesMissed] = []

        async def heard() -> bytes | None:
            await client.publish_channel("room", b"hello again")
            try:
                return await channel.get(timeout=0.05)
            except bus.MessagesMissed as gap:
                gaps.append(gap)
                return None

        assert await eventually(heard, "the channel subscription to be restored", timeout=DEADLINE) == b"hello again"
        assert len(gaps) == 1 and channel.gaps == 1 and channel.connected
        assert "lost the connection" in gaps[0].reason and gaps[0].since <= gaps[0].until
        await channel.aclose()
    finally:
        await client.close()
        await cache.close()
