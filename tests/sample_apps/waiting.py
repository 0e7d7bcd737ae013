"""Async polling with a deadline for the sample apps' async tests (never fixed sleeps)."""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T] | T], what: str, timeout: float = 5.0, interval: float = 0.02) -> T:
    """The first truthy result of probe() (sync or async); fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value  # type: ignore[return-value]
            last = value
        except Exception as error:  # e.g. a connection refused until the server is up
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last result: {last!r}")
        await asyncio.sleep(interval)
