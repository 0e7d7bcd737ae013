"""The realtime side of the simulator: new pictures appear in subscribed geographies and signed batches are POSTed to callbacks."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any

import aiohttp

from sample_apps.wazstagram.instagram_sim.settings import SimSettings
from sample_apps.wazstagram.instagram_sim.store import InstagramStore, Subscription
from sample_apps.wazstagram.signature import HEADER, sign

log = logging.getLogger("wazstagram.instagram_sim")

POST_TIMEOUT = aiohttp.ClientTimeout(total=10)
# A new subscription hears about its geography's first pictures this soon, so a fresh site
# shows pictures for every city within seconds instead of waiting for the random walk.
WELCOME_DELAY = 0.2


class NotificationGenerator:
    """Every `interval` seconds: one random subscribed geography gets 1..max_new_items new pictures, and each of its
    subscriptions is notified with one update (sometimes two). The seeded rng makes the sequence of cities and
    batch shapes repeatable."""

    def __init__(self, store: InstagramStore, settings: SimSettings, http: aiohttp.ClientSession,
                 rng: random.Random) -> None:
        self.store = store
        self.settings = settings
        self.http = http
        self.rng = rng
        self.sent = 0  # batches delivered with a 2xx answer
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval)
            try:
                await self.tick()
            except Exception:  # one bad round must not end the stream
                log.exception("notification round failed")

    async def tick(self) -> str | None:
        """One round; returns the geography id that changed (None if nothing is subscribed)."""
        geographies = self.store.subscribed_geographies()
        if not geographies:
            return None
        geography_id = self.rng.choice(geographies)
        changes = 2 if self.rng.random() < self.settings.double_update_chance else 1
        times = []
        for _ in range(changes):
            self.store.add_media(geography_id, self.rng.randint(1, self.settings.max_new_items))
            times.append(int(time.time()))
        for subscription in self.store.subscriptions_for(geography_id):
            await self.notify(subscription, times)
        return geography_id

    def welcome(self, subscription: Subscription) -> None:
        """Tell a new subscription about the pictures its geography already has (after the POST is answered)."""
        task = asyncio.get_running_loop().create_task(self._welcome(subscription))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _welcome(self, subscription: Subscription) -> None:
        await asyncio.sleep(WELCOME_DELAY)
        await self.notify(subscription, [int(time.time())])

    async def notify(self, subscription: Subscription, times: list[int]) -> bool:
        updates = [{"subscription_id": subscription.id, "object": "geography", "object_id": subscription.object_id,
                    "changed_aspect": "media", "time": at} for at in times]
        body = json.dumps(updates).encode()
        headers = {"Content-Type": "application/json"}
        secret = self.settings.secret_of(subscription.client_id)
        if secret is not None:
            headers[HEADER] = sign(secret, body)
        try:
            async with self.http.post(subscription.callback_url, data=body, headers=headers,
                                      timeout=POST_TIMEOUT) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("notifying %s failed: %r", subscription.callback_url, exc)
            return False
        log.info("notified %s: %d update(s), HTTP %d", subscription.callback_url, len(updates), status)
        if 200 <= status < 300:
            self.sent += 1
            return True
        return False

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
