"""Polling with a deadline: tests wait for conditions, never for fixed amounts of time."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05,
               diagnostics: Callable[[], str] | None = None) -> T:
    """Return predicate()'s first truthy value; fail naming `what` if the deadline passes first."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the condition may raise until it holds (e.g. connection refused)
            last_error = exc
        if time.monotonic() >= deadline:
            extra = f"\nlast error: {last_error!r}" if last_error else ""
            extra += f"\n{diagnostics()}" if diagnostics else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(interval)
