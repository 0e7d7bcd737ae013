"""What the master asks of every front process at once and waits to hear back about: each request is numbered,
and each front confirms it by number ("confirmed" on the channel). A front that dies counts as having answered;
one that stays silent past the wait is named in the result (a stuck front must not stall the master)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Iterable


class Confirmations:
    """The requests sent to the fronts whose confirmations are still awaited."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        # number -> (the fronts still to confirm, the future their silence resolves)
        self._waiting: dict[int, tuple[set[int], asyncio.Future[list[int]]]] = {}

    def ask(self, fronts: Iterable[int], wait: float) -> tuple[int, "asyncio.Future[list[int]]"]:
        """A number to send to `fronts`, and a future that resolves once each has confirmed it or is gone, or when
        `wait` seconds have passed: to the fronts that did not confirm in time (sorted; empty when all did)."""
        loop = asyncio.get_running_loop()
        number = next(self._numbers)
        future: asyncio.Future[list[int]] = loop.create_future()
        self._waiting[number] = (set(fronts), future)
        loop.call_later(wait, self._done, number)
        self._check(number)
        return number, future

    def confirmed(self, number: int, front: int) -> None:
        waiting = self._waiting.get(number)
        if waiting is not None:
            waiting[0].discard(front)
            self._check(number)

    def front_gone(self, front: int) -> None:
        """A front that exited confirms nothing more; its restart starts from the master's current state."""
        for number in list(self._waiting):
            self.confirmed(number, front)

    def _check(self, number: int) -> None:
        if not self._waiting[number][0]:
            self._done(number)

    def _done(self, number: int) -> None:
        waiting = self._waiting.pop(number, None)
        if waiting is not None and not waiting[1].done():
            waiting[1].set_result(sorted(waiting[0]))
