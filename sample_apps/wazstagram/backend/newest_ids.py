"""The newest media id seen per city, kept in the shared cache so every backend worker asks Instagram for the same min_id."""

from __future__ import annotations

from pysupervise.bus import CacheClient
from sample_apps.wazstagram.media_ids import newest_of

KEY_PREFIX = "wazstagram:newest:"


class NewestIds:
    """Per-city min_id for the next fetch. In the cache rather than in one worker's memory: with several backend
    workers, each callback may land on another worker, and a per-worker value would re-publish old pictures.

    Each worker also remembers the ids it set itself, and uses the newer of the two: a cache that lost its keys
    (Redis restarted without persistence) would otherwise send the next fetch without min_id, and Instagram's 20
    latest pictures, already shown, would be published again."""

    def __init__(self, cache: CacheClient) -> None:
        self.cache = cache
        self._remembered: dict[str, str] = {}

    async def get(self, city: str) -> str | None:
        value = await self.cache.get(KEY_PREFIX + city)
        shared = value.decode() if value is not None else None
        return newest_of(shared, self._remembered.get(city)) or shared

    async def set(self, city: str, media_id: str) -> None:
        self._remembered[city] = newest_of(media_id, self._remembered.get(city)) or media_id
        await self.cache.set(KEY_PREFIX + city, media_id)
