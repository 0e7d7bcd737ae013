"""connect() and connect_cache(): pick the backend from a URL (or the environment) and open a verified client."""

from __future__ import annotations

from .api import BusClient, CacheClient
from .urls import EmbeddedAddress, bus_url_from_env, cache_url_from_env, parse_url


async def connect(url: str | None = None, *, connect_timeout: float = 2.0) -> BusClient:
    """A bus client for url (None: $PYSUPERVISE_BUS), already connected.

    Raises BusConfigError for a missing or malformed URL, BusUnavailable if nothing answers
    there within connect_timeout. Later connection losses reconnect on the next call.
    """
    address = parse_url(bus_url_from_env() if url is None else url)
    if isinstance(address, EmbeddedAddress):
        from .client_embedded import EmbeddedBus

        return await EmbeddedBus(address, connect_timeout).connect()
    from .client_redis import RedisBus  # imports redis only for apps that use it

    client = RedisBus(address, connect_timeout)
    return await _verified(client, client.connect())


async def connect_cache(url: str | None = None, *, connect_timeout: float = 2.0) -> CacheClient:
    """A cache client for url (None: $PYSUPERVISE_CACHE, else $PYSUPERVISE_BUS), already connected."""
    address = parse_url(cache_url_from_env() if url is None else url)
    if isinstance(address, EmbeddedAddress):
        from .client_embedded import EmbeddedCache

        return await EmbeddedCache(address, connect_timeout).connect()
    from .client_redis import RedisCache

    cache = RedisCache(address, connect_timeout)
    return await _verified(cache, cache.connect())


async def _verified(client, connecting):  # type: ignore[no-untyped-def]
    # A Redis client that failed its first PING still holds a pool; close it so the caller,
    # who only sees the exception, leaks nothing.
    try:
        return await connecting
    except BaseException:
        await client.close()
        raise
