"""Real redis-servers for tests: `redis_server`, one per test session for every suite that runs against Redis, and
`own_redis_server`, one for a single test that may restart it."""

from __future__ import annotations

import shutil
from typing import Iterator

import pytest

from tests.bus.servers import RedisServer


def _require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        pytest.fail(
            "redis-server is not installed, so the Redis backend cannot be tested: run ./scripts/test.sh "
            "(it installs it) or `apt-get install redis-server`",
            pytrace=False,
        )


def _running_redis_server() -> Iterator[RedisServer]:
    _require_redis_server()
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    yield from _running_redis_server()


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server for this test alone, stopped after it; see `restart_without_persistence`."""
    yield from _running_redis_server()


def restart_without_persistence(server: RedisServer) -> None:
    """Stop the server and start it again on the same port: it runs without persistence, so every key, topic
    subscription and session is gone, as after a crash of a Redis configured that way."""
    server.stop()
    server.start()
