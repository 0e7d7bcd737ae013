"""Fixtures for the bus tests: one real redis-server per session, and each test run against both backends."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from pysupervise import bus
from pysupervise.bus.broker import EmbeddedBroker
from tests.bus.servers import RedisServer, redis_blocked_clients, short_tempdir
from tests.support.redis_server import redis_server  # noqa: F401  (the session-wide redis-server fixture)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A temp dir whose path is short enough for Unix sockets, always removed."""
    path = short_tempdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Backend:
    """One bus backend for one test: its URL, and more URLs of the same kind with a given max_waiting."""

    def __init__(self, kind: str, redis: RedisServer | None) -> None:
        self.kind = kind
        self.redis = redis
        self.brokers: list[EmbeddedBroker] = []
        self.clients: list[bus.BusClient | bus.CacheClient] = []
        self.url = ""

    async def start(self) -> Backend:
        self.url = await self.url_with(max_waiting=10_000)
        return self

    async def url_with(self, max_waiting: int) -> str:
        if self.redis is not None:
            return f"{self.redis.url}?max_waiting={max_waiting}"
        broker = EmbeddedBroker(short_tempdir() / "bus.sock", max_waiting=max_waiting)
        await broker.start()
        self.brokers.append(broker)
        return broker.url

    def parked_receives(self) -> int:
        """receive() calls waiting on the server right now, however the backend keeps them."""
        if self.redis is not None:
            return redis_blocked_clients(self.redis.port)
        return sum(
            s["receivers"] for broker in self.brokers for subs in broker.stats()["subscriptions"].values() for s in subs.values()
        )

    async def client(self, url: str | None = None) -> bus.BusClient:
        client = await bus.connect(url or self.url)
        self.clients.append(client)
        return client

    async def cache(self) -> bus.CacheClient:
        cache = await bus.connect_cache(self.url)
        self.clients.append(cache)
        return cache

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for broker in self.brokers:
            await broker.close()
            shutil.rmtree(broker.socket_path.parent, ignore_errors=True)


@pytest.fixture(params=["embedded", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    redis = None
    if request.param == "redis":
        redis = request.getfixturevalue("redis_server")
        redis.flush()  # each test starts from an empty Redis, like a fresh broker
    backend = await Backend(request.param, redis).start()
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
async def client(backend: Backend) -> bus.BusClient:
    return await backend.client()


@pytest.fixture
async def cache(backend: Backend) -> bus.CacheClient:
    return await backend.cache()
