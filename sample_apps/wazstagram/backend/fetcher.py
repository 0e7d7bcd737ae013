"""For each notification update: fetch the city's new media from Instagram and publish it to the topic."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from pysupervise.bus import BusClient, BusError
from sample_apps.wazstagram.backend.newest_ids import NewestIds
from sample_apps.wazstagram.backend.settings import BackendSettings

log = logging.getLogger("wazstagram.backend")

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=15)


class PictureFetcher:
    """Runs each callback's updates in the background (the callback is answered first), one city at a time."""

    def __init__(self, settings: BackendSettings, http: aiohttp.ClientSession, bus: BusClient,
                 newest: NewestIds) -> None:
        self.settings = settings
        self.http = http
        self.bus = bus
        self.newest = newest
        self._city_locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def schedule(self, city: str, updates: list[Any]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self.handle(city, updates))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def handle(self, city: str, updates: list[Any]) -> None:
        # Updates for one city run in order, so the second one already uses the min_id of the first.
        lock = self._city_locks.setdefault(city, asyncio.Lock())
        async with lock:
            for update in updates:
                try:
                    await self.fetch_and_publish(city, update)
                except Exception:  # a bad update must not stop the others
                    log.exception("handling an update for %s failed", city)

    def recent_media_url(self, object_id: str, min_id: str | None) -> str:
        query = {"client_id": self.settings.client_id}
        if min_id:
            query["min_id"] = min_id
        return f"{self.settings.instagram_api}/geographies/{quote(object_id, safe='')}/media/recent?{urlencode(query)}"

    async def fetch_and_publish(self, city: str, update: Any) -> bool:
        """True if something was published."""
        object_id = update.get("object_id") if isinstance(update, dict) else None
        if not isinstance(object_id, (str, int)) or isinstance(object_id, bool):
            log.error("update for %s has no object_id: %r", city, update)
            return False
        url = self.recent_media_url(str(object_id), await self.newest.get(city))
        log.info(url)
        try:
            async with self.http.get(url, timeout=FETCH_TIMEOUT) as response:
                body = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.error("fetching %s failed: %r", url, exc)
            return False
        try:
            envelope = json.loads(body)
            meta = envelope["meta"]
            data = envelope.get("data")
        except (ValueError, KeyError, TypeError, AttributeError):
            log.error("Instagram answered %s with something that is not a v1 envelope: %.200s", url, body)
            return False
        if meta.get("code") != 200:
            log.error("error from Instagram for %s: %s", city, meta.get("error_message"))
            return False
        if not data:
            log.info("no new pictures for %s", city)
            return False
        await self.newest.set(city, str(data[0]["id"]))
        message = json.dumps({"city": city, "pic": body})
        try:
            delivered = await self.bus.publish(self.settings.topic, message)
        except BusError as exc:
            log.error("publishing %s's pictures failed: %r", city, exc)
            return False
        log.info("published %d picture(s) from %s to %d subscription(s)", len(data), city, delivered)
        return True

    async def close(self, grace: float = 5.0) -> None:
        """Let accepted callbacks finish their fetches (they were already answered 200), up to `grace` seconds."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
