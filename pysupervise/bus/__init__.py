"""pysupervise.bus: the message bus and key/value cache that hosted apps share, embedded in the master or on Redis.

Apps call ``await bus.connect()`` / ``await bus.connect_cache()``; with no URL these read
``PYSUPERVISE_BUS`` and ``PYSUPERVISE_CACHE`` (falling back to ``PYSUPERVISE_BUS``), which the
master sets for every worker. URLs:

* ``pysupervise+unix:///abs/path/to/run/bus.sock`` — the embedded broker in the master
  (``EmbeddedBroker`` in ``pysupervise.bus.broker``); the path is %-quoted like any URL path.
* ``redis://[:password@]host:6379/0``, ``rediss://…``, ``unix:///path/redis.sock`` — Redis, via
  redis.asyncio. ``?max_waiting=N`` sets the per-subscription bound (default 10 000).

Topics: ``publish(topic, msg)`` stores a copy in each durable subscription;
``receive(topic, name, timeout)`` takes one. Channels: ``publish_channel(channel, msg)`` reaches
every open ``subscribe(channel)``; nothing is kept. Cache: ``get``/``set``/``delete``/``incr``.
Sessions: ``setup_sessions(app)`` and ``get_session(request)`` for aiohttp.

Importing this package loads only the standard library; redis and aiohttp are imported when a
Redis URL or the session helpers are first used.
"""

from __future__ import annotations

from typing import Any

from .api import BusClient, CacheClient, SubscriptionStats
from .channel import ChannelSubscription
from .connect import connect, connect_cache
from .errors import BusConfigError, BusError, BusUnavailable, NoSuchSubscription, NotAnInteger
from .urls import BUS_ENV, CACHE_ENV, embedded_url

__all__ = [
    "BUS_ENV",
    "CACHE_ENV",
    "BusClient",
    "BusConfigError",
    "BusError",
    "BusUnavailable",
    "CacheClient",
    "DEFAULT_SESSION_TTL",
    "ChannelSubscription",
    "NoSuchSubscription",
    "NotAnInteger",
    "Session",
    "SessionMiddleware",
    "SubscriptionStats",
    "connect",
    "connect_cache",
    "embedded_url",
    "get_session",
    "setup_sessions",
]

_SESSION_NAMES = {"Session", "SessionMiddleware", "get_session", "setup_sessions", "DEFAULT_SESSION_TTL"}


def __getattr__(name: str) -> Any:
    # The session helpers need aiohttp; load them only when an app asks for them.
    if name in _SESSION_NAMES:
        from . import session

        return getattr(session, name)
    raise AttributeError(f"module 'pysupervise.bus' has no attribute {name!r}")
