"""Fixtures for the sample apps' tests: a real EmbeddedBroker on a temp socket, and apps served on real TCP ports."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pysupervise import bus
from pysupervise.bus.broker import EmbeddedBroker
from tests.support.redis_server import own_redis_server, redis_server  # noqa: F401  (fixtures: a session-wide and a per-test redis-server)

Serve = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def broker() -> AsyncIterator[EmbeddedBroker]:
    # AF_UNIX paths are limited to 107 bytes and pytest's tmp_path can be longer.
    folder = Path(tempfile.mkdtemp(prefix="pssa-", dir="/tmp"))
    server = EmbeddedBroker(folder / "bus.sock")
    await server.start()
    try:
        yield server
    finally:
        await server.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def bus_client(broker: EmbeddedBroker) -> AsyncIterator[bus.BusClient]:
    client = await bus.connect(broker.url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def cache_client(broker: EmbeddedBroker) -> AsyncIterator[bus.CacheClient]:
    cache = await bus.connect_cache(broker.url)
    try:
        yield cache
    finally:
        await cache.close()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """serve(app, port=None) → a started aiohttp TestClient on 127.0.0.1; all are closed after the test."""
    clients: list[TestClient] = []

    async def start(app: web.Application, port: int | None = None) -> TestClient:
        client = TestClient(TestServer(app, host="127.0.0.1", port=port))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in reversed(clients):
        await client.close()
