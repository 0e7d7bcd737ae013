"""Deletes topic subscriptions that stopped being read: a frontend with too many waiting messages is presumed dead."""

from __future__ import annotations

import asyncio
import logging

from pysupervise.bus import BusClient, BusError

log = logging.getLogger("wazstagram.backend")


class SubscriptionJanitor:
    """Every `interval` seconds, delete each subscription of `topic` with more than `max_waiting` messages waiting."""

    def __init__(self, bus: BusClient, topic: str, interval: float, max_waiting: int) -> None:
        self.bus = bus
        self.topic = topic
        self.interval = interval
        self.max_waiting = max_waiting

    async def sweep(self) -> list[str]:
        """One pass; returns the names of the subscriptions it deleted."""
        deleted = []
        for name, waiting in await self.bus.subscriptions(self.topic):
            if waiting > self.max_waiting:
                # Several backend workers sweep; only the one whose delete found it logs it.
                if await self.bus.delete_subscription(self.topic, name):
                    log.info("deleted subscription %s of %s: %d messages waiting", name, self.topic, waiting)
                    deleted.append(name)
        return deleted

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except BusError as exc:
                log.error("listing the subscriptions of %s failed: %r", self.topic, exc)
