"""The newest media id seen per city, kept in the shared cache so every backend worker asks Instagram for the same min_id."""

from __future__ import annotations

from pysupervise.bus import CacheClient

KEY_PREFIX = "wazstagram:newest:"


class NewestIds:
    """Per-city min_id for the next fetch. In the cache rather than in one worker's memory: with several backend
    workers, each callback may land on another worker, and a per-worker value would re-publish old pictures."""

    def __init__(self, cache: CacheClient) -> None:
        self.cache = cache

    async def get(self, city: str) -> str | None:
        value = await self.cache.get(KEY_PREFIX + city)
        return value.decode() if value is not None else None

    async def set(self, city: str, media_id: str) -> None:
        await self.cache.set(KEY_PREFIX + city, media_id)
