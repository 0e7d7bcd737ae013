"""counter: a per-visitor sum kept in a session that lives in pysupervise's cache, so every worker sees it.

What the original did (an express app from the 2016 "node.js cluster on Azure" posts): /inc
added one to req.session.sum and answered "Increased sum: N"; /get answered "Current sum: N"
("undefined" before the first /inc). With the default in-memory session store each cluster worker
had its own sessions, so the sum jumped around between workers; the posts moved the sessions to Redis.

What we changed: the session is pysupervise's cookie session (pysupervise.bus.setup_sessions) in the
shared cache — the embedded broker or Redis — with a one-day TTL (SESSION_TTL), so any worker,
and after a reload any new worker, sees the same sum. The sum itself is not a session value: a
session is read at the start of a request and written back at its end, so two requests of one
visitor running at once on two workers would both write "n + 1" (301 increments gave 202). The
session holds the name of a cache counter instead, and /inc is the cache's atomic ``incr`` on it
(see SessionSum). Responses carry X-Served-By (worker slot and pid) so you can watch requests land
on different workers.

Run alone: ``python -m sample_apps.counter --port 8084`` (then open http://127.0.0.1:8084/counter/inc).
"""

from __future__ import annotations

import os

from aiohttp import web

from pysupervise import bus
from sample_apps.counter.session_sum import SessionSum
from sample_apps.counter.settings import CounterSettings


class Counter:
    """The two pages; the state is in the session and the cache, never in this process."""

    def __init__(self, settings: CounterSettings, sums: SessionSum) -> None:
        self.settings = settings
        self.sums = sums

    def _reply(self, text: str) -> web.Response:
        served_by = f"counter worker {self.settings.worker} pid {os.getpid()}"
        return web.Response(text=text, headers={"X-Served-By": served_by, "Cache-Control": "no-store"})

    async def increase(self, request: web.Request) -> web.Response:
        return self._reply(f"Increased sum: {await self.sums.increase(bus.get_session(request))}")

    async def current(self, request: web.Request) -> web.Response:
        value = await self.sums.current(bus.get_session(request))
        return self._reply(f"Current sum: {'undefined' if value is None else value}")


async def create_app(settings: CounterSettings | None = None) -> web.Application:
    """The counter as an aiohttp app (an async factory: it connects to the cache first)."""
    settings = settings or CounterSettings.from_env()
    cache = await bus.connect_cache(settings.cache_url)
    counter = Counter(settings, SessionSum(cache, settings.session_ttl))
    app = web.Application()
    bus.setup_sessions(app, cache, ttl=settings.session_ttl, path=settings.prefix)

    async def close_cache(_app: web.Application) -> None:
        await cache.close()

    app.on_cleanup.append(close_cache)
    app.router.add_get(settings.prefix + "/inc", counter.increase)
    app.router.add_get(settings.prefix + "/get", counter.current)
    return app
