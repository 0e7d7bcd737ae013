"""A visitor's sum as an atomic cache counter named by their session, so concurrent requests never lose an increment."""

from __future__ import annotations

import secrets

from pysupervise.bus import CacheClient, Session

KEY_PREFIX = "counter:sum:"
SESSION_KEY = "counter"  # the session value naming this visitor's cache counter
# The counter outlives its session by this much: the session is written after the handler that created
# the counter, so a session that is still there always finds its counter.
EXPIRY_MARGIN = 60.0


class SessionSum:
    """Each session names one cache counter, created by the session's first /inc.

    Only that first request can know a new session (nobody has its cookie yet), so creating the counter
    races with nothing; every later /inc is one `incr`, atomic in the embedded broker and in Redis, that
    also restarts the counter's expiry; the session is saved again too (its cookie and ttl slide), so both
    last a day (the session's ttl) from the visitor's last /inc, as when the sum lived in the session.
    """

    def __init__(self, cache: CacheClient, ttl: float) -> None:
        self.cache = cache
        self.ttl = ttl

    async def increase(self, session: Session) -> int:
        name = session.get(SESSION_KEY)
        if not isinstance(name, str):
            return await self._start(session)
        value = await self.cache.incr(KEY_PREFIX + name, ttl=self.ttl + EXPIRY_MARGIN)
        session.changed()  # unchanged, but saved: its ttl restarts with the counter's
        return value

    async def current(self, session: Session) -> int | None:
        name = session.get(SESSION_KEY)
        value = await self.cache.get(KEY_PREFIX + name) if isinstance(name, str) else None
        return None if value is None else int(value)

    async def _start(self, session: Session) -> int:
        name = secrets.token_urlsafe(16)
        await self.cache.set(KEY_PREFIX + name, b"1", ttl=self.ttl + EXPIRY_MARGIN)
        session[SESSION_KEY] = name
        return 1
