"""The `redis_server` fixture: one real redis-server per test session, for every suite that runs against Redis."""

from __future__ import annotations

import shutil
from typing import Iterator

import pytest

from tests.bus.servers import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail(
            "redis-server is not installed, so the Redis backend cannot be tested: run ./scripts/test.sh "
            "(it installs it) or `apt-get install redis-server`",
            pytrace=False,
        )
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
