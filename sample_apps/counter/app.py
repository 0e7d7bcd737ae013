"""counter: a per-visitor sum kept in a session that lives in pysupervise's cache, so every worker sees it.

What the original did (an express app from the 2016 "node.js cluster on Azure" posts): /inc
added one to req.session.sum and answered "Increased sum: N"; /get answered "Current sum: N"
("undefined" before the first /inc). With the default in-memory session store each cluster worker
had its own sessions, so the sum jumped around between workers; the posts moved the sessions to Redis.

What we changed: the session is pysupervise's cookie session (pysupervise.bus.setup_sessions) in the
shared cache — the embedded broker or Redis — with a one-day TTL (SESSION_TTL), so any worker,
and after a reload any new worker, sees the same sum. Responses carry X-Served-By (worker slot and
pid) so you can watch requests land on different workers.

Run alone: ``python -m sample_apps.counter --port 8084`` (then open http://127.0.0.1:8084/counter/inc).
"""

from __future__ import annotations

import os

from aiohttp import web

from pysupervise import bus
from sample_apps.counter.settings import CounterSettings


class Counter:
    """The two pages; the state is in the session, never in this process."""

    def __init__(self, settings: CounterSettings) -> None:
        self.settings = settings

    def _reply(self, text: str) -> web.Response:
        served_by = f"counter worker {self.settings.worker} pid {os.getpid()}"
        return web.Response(text=text, headers={"X-Served-By": served_by, "Cache-Control": "no-store"})

    async def increase(self, request: web.Request) -> web.Response:
        session = bus.get_session(request)
        session["sum"] = int(session.get("sum", 0)) + 1
        return self._reply(f"Increased sum: {session['sum']}")

    async def current(self, request: web.Request) -> web.Response:
        value = bus.get_session(request).get("sum")
        return self._reply(f"Current sum: {'undefined' if value is None else value}")


async def create_app(settings: CounterSettings | None = None) -> web.Application:
    """The counter as an aiohttp app (an async factory: it connects to the cache first)."""
    settings = settings or CounterSettings.from_env()
    cache = await bus.connect_cache(settings.cache_url)
    counter = Counter(settings)
    app = web.Application()
    bus.setup_sessions(app, cache, ttl=settings.session_ttl, path=settings.prefix)

    async def close_cache(_app: web.Application) -> None:
        await cache.close()

    app.on_cleanup.append(close_cache)
    app.router.add_get(settings.prefix + "/inc", counter.increase)
    app.router.add_get(settings.prefix + "/get", counter.current)
    return app
