"""Cookie sessions for aiohttp apps, stored in the shared cache so every worker sees the same session."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from collections.abc import Iterator, MutableMapping
from typing import Any, AsyncIterator, Awaitable, Callable

from aiohttp import web

from .api import CacheClient
from .connect import connect_cache

log = logging.getLogger("pysupervise.bus")

DEFAULT_SESSION_TTL = 24 * 60 * 60
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # what secrets.token_urlsafe(32) makes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Session(MutableMapping[str, Any]):
    """One visitor's data: JSON-serializable values. Saved when changed; mutate nested values
    in place only together with `session.changed()`."""

    def __init__(self, identity: str | None, data: dict[str, Any]) -> None:
        self.identity = identity
        self.new = identity is None
        self.is_changed = False
        self.invalidated = False
        self._data = data

    def changed(self) -> None:
        self.is_changed = True

    def invalidate(self) -> None:
        """Forget this session: its data is deleted and the cookie removed."""
        self._data.clear()
        self.invalidated = True
        self.is_changed = True

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self.is_changed = True

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self.is_changed = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"<Session {'new' if self.new else self.identity[:6] + '…'} {self._data!r}>"  # type: ignore[index]


# web.RequestKey exists from aiohttp 3.12 and silences its str-key warning; older aiohttp takes a str.
SESSION_REQUEST_KEY: Any = getattr(web, "RequestKey", lambda name, _type: name)("pysupervise.session", Session)


def get_session(request: web.Request) -> Session:
    try:
        return request[SESSION_REQUEST_KEY]
    except KeyError:
        raise RuntimeError("no session on this request: add pysupervise.bus.setup_sessions(app) first") from None


class SessionMiddleware:
    """aiohttp middleware: loads the session named by the cookie, saves it after the handler.

    Sessions slide: each save restarts the ttl. A cookie naming an unknown or expired session
    is never reused, so a visitor cannot choose their session id (no fixation).
    """

    __middleware_version__ = 1

    def __init__(
        self,
        cache: CacheClient | None = None,
        *,
        ttl: float = DEFAULT_SESSION_TTL,
        cookie_name: str | None = None,
        key_prefix: str | None = None,
        secure: bool = False,
        samesite: str = "Lax",
        path: str = "/",
    ) -> None:
        # Apps on one host share cookies and may share one cache; naming both after
        # PYSUPERVISE_APP keeps two hosted apps from reading or clobbering each other's
        # sessions, while every worker of one app agrees.
        app = re.sub(r"[^A-Za-z0-9_-]", "_", os.environ.get("PYSUPERVISE_APP", ""))
        self.cache = cache
        self.ttl = ttl
        self.cookie_name = cookie_name or (f"pysupervise_session_{app}" if app else "pysupervise_session")
        self.key_prefix = key_prefix if key_prefix is not None else (f"session:{app}:" if app else "session:")
        self.secure = secure
        self.samesite = samesite
        self.path = path

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        session = await self.load(request)
        request[SESSION_REQUEST_KEY] = session
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects and errors may carry session changes too
            await self.save(session, exc)
            raise
        await self.save(session, response)
        return response

    async def load(self, request: web.Request) -> Session:
        identity = request.cookies.get(self.cookie_name, "")
        if _SESSION_ID.match(identity):
            stored = await self._cache().get(self.key_prefix + identity)
            if stored is not None:
                try:
                    return Session(identity, json.loads(stored))
                except ValueError:
                    log.warning("session %s… holds invalid JSON; starting a new one", identity[:6])
        return Session(None, {})

    async def save(self, session: Session, response: web.StreamResponse) -> None:
        if not session.is_changed:
            return
        if session.invalidated:
            if session.identity is not None:
                await self._cache().delete(self.key_prefix + session.identity)
                if not response.prepared:
                    response.del_cookie(self.cookie_name, path=self.path)
            return
        if session.identity is None:
            if response.prepared:
                log.warning("a new session was changed after its response was sent; it cannot get a cookie, so it is not saved")
                return
            session.identity = secrets.token_urlsafe(32)
        await self._cache().set(self.key_prefix + session.identity, json.dumps(dict(session)), ttl=self.ttl)
        if not response.prepared:
            response.set_cookie(
                self.cookie_name, session.identity, max_age=int(self.ttl), path=self.path,
                httponly=True, secure=self.secure, samesite=self.samesite,
            )

    def _cache(self) -> CacheClient:
        if self.cache is None:
            raise RuntimeError("the session middleware has no cache yet (setup_sessions connects it at app startup)")
        return self.cache


def setup_sessions(app: web.Application, cache: CacheClient | None = None, **options: Any) -> SessionMiddleware:
    """Add cookie sessions to app. Without a cache, one is connected from $PYSUPERVISE_CACHE /
    $PYSUPERVISE_BUS when the app starts and closed when it stops."""
    middleware = SessionMiddleware(cache, **options)
    app.middlewares.append(middleware)  # type: ignore[arg-type]
    if cache is None:

        async def own_cache(app: web.Application) -> AsyncIterator[None]:
            middleware.cache = await connect_cache()
            yield
            await middleware.cache.close()

        app.cleanup_ctx.append(own_cache)
    return middleware
