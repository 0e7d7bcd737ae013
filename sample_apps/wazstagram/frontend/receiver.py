"""This worker's durable subscription to the topic, and the loop that receives from it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Callable

from pysupervise.bus import BusClient, BusError, NoSuchSubscription

log = logging.getLogger("wazstagram.frontend")


class TopicReceiver:
    """Creates a subscription with a fresh UUID name and hands each message to `deliver`. A receive error is
    logged and retried after `retry_pause`; a subscription deleted under us (the backend's cleanup decided we
    were dead) is created again, so the worker keeps getting pictures."""

    def __init__(self, bus: BusClient, topic: str, deliver: Callable[[bytes], None], wait: float = 5.0,
                 retry_pause: float = 1.0) -> None:
        self.bus = bus
        self.topic = topic
        self.deliver = deliver
        self.wait = wait
        self.retry_pause = retry_pause
        self.name = str(uuid.uuid4())

    async def subscribe(self) -> None:
        await self.bus.create_subscription(self.topic, self.name)
        log.info("subscribed to %s as %s", self.topic, self.name)

    async def run(self) -> None:
        while True:
            try:
                message = await self.bus.receive(self.topic, self.name, self.wait)
            except NoSuchSubscription:
                log.warning("subscription %s was deleted; creating it again", self.name)
                await self._resubscribe()
                continue
            except BusError as exc:
                log.error("receiving from %s failed: %r", self.topic, exc)
                await asyncio.sleep(self.retry_pause)
                continue
            if message is not None:
                try:
                    self.deliver(message)
                except Exception:  # one bad message must not stop the loop
                    log.exception("handling a message from %s failed", self.topic)

    async def _resubscribe(self) -> None:
        try:
            await self.subscribe()
        except BusError as exc:
            log.error("creating subscription %s failed: %r", self.name, exc)
            await asyncio.sleep(self.retry_pause)

    async def unsubscribe(self) -> None:
        """Remove the subscription on a clean stop, so the topic does not keep copies for nobody."""
        try:
            await self.bus.delete_subscription(self.topic, self.name)
        except BusError as exc:
            log.warning("deleting subscription %s failed (the backend's cleanup will): %r", self.name, exc)
