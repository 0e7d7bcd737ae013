"""pysupervise.bus: the message bus and key/value cache that hosted apps share, embedded in the master or on Redis.

Apps call ``await bus.connect()`` / ``await bus.connect_cache()``; with no URL these read
``PYSUPERVISE_BUS`` and ``PYSUPERVISE_CACHE`` (falling back to ``PYSUPERVISE_BUS``), which the
master sets for every worker. URLs:

* ``pysupervise+unix:///abs/path/to/run/bus.sock`` — the embedded broker in the master
  (``EmbeddedBroker`` in ``pysupervise.bus.broker``); the path is %-quoted like any URL path.
* ``redis://[:password@]host:6379/0``, ``rediss://…``, ``unix:///path/redis.sock`` — Redis, via
  redis.asyncio. ``?max_waiting=N`` sets the per-subscription bound (default 10 000).
* Either takes ``?request_timeout=S`` (default 5: the longest wait for an answer) and
  ``?health_check=S`` (default 5; 0: off): a connection quiet that long is pinged, and one that
  does not answer within as long again is given up (``ClientOptions`` in urls.py).

Outages: a call that gets no answer in time raises BusUnavailable, and the client then treats
the bus as silent: further calls fail at once (or wait for one shared probe of at most the
connect timeout) until it answers again, so a web app can answer 503 immediately. Channel
subscriptions notice a dead or silent connection by those health checks, resubscribe with
backoff, and report the gap: ``get()`` raises MessagesMissed once at that place in the stream.

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
from .errors import BusConfigError, BusError, BusUnavailable, MessagesMissed, NoSuchSubscription, NotAnInteger
from .urls import BUS_ENV, CACHE_ENV, ClientOptions, embedded_url

__all__ = [
    "BUS_ENV",
    "CACHE_ENV",
    "BusClient",
    "BusConfigError",
    "BusError",
    "BusUnavailable",
    "CacheClient",
    "ClientOptions",
    "DEFAULT_SESSION_TTL",
    "ChannelSubscription",
    "MessagesMissed",
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
