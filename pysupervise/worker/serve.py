"""Serves a loaded app on the Unix socket in $PORT until SIGTERM, then finishes in-flight work and exits."""

from __future__ import annotations

import asyncio
import inspect
import signal
from typing import Any, Awaitable, Callable

from pysupervise.worker.detect import AppLoadError, LoadedApp
from pysupervise.worker.heartbeat import LoopHeartbeat

# The proxy decides when pooled connections close (DESIGN §1); workers keep them as long as it likes.
KEEPALIVE_SECONDS = 24 * 3600


def client_from_proxy() -> Callable[..., Awaitable[Any]]:
    """aiohttp middleware: `request.remote` and `.scheme` are what the proxy vouches for (uvicorn's proxy_headers)."""
    from aiohttp import web

    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
        changes = {}
        remote = request.headers.get("X-Forwarded-For", "")
        if remote:
            changes["remote"] = remote.strip()
        proto = request.headers.get("X-Forwarded-Proto", "")
        if proto in ("http", "https"):
            changes["scheme"] = proto
        return await handler(request.clone(**changes) if changes else request)

    return middleware


async def serve_aiohttp(loaded: LoadedApp, socket_path: str, graceful_timeout: float,
                        heartbeat: LoopHeartbeat | None = None) -> None:
    from aiohttp import web

    if heartbeat is not None:
        heartbeat.start(asyncio.get_running_loop())

    app = loaded.target
    if loaded.is_factory:
        app = app()
        if inspect.isawaitable(app):
            app = await app
        if not isinstance(app, web.Application):
            raise AppLoadError(f"the factory returned {type(app).__name__}, not an aiohttp.web.Application")
    app.middlewares.insert(0, client_from_proxy())
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE_SECONDS,
                           shutdown_timeout=graceful_timeout)
    await runner.setup()
    site = web.UnixSite(runner, socket_path, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def wsgi_bridge(app: Any, threads: int) -> Any:
    """The WSGI app as an ASGI app whose handlers run on exactly `threads` threads.

    uvicorn's own `interface="wsgi"` gives no way to size its pool (always 10). Its WSGIMiddleware is a2wsgi's
    when that is installed, else uvicorn's deprecated copy; both take `workers`, the pool's size.
    """
    import warnings

    from uvicorn.middleware.wsgi import WSGIMiddleware

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # uvicorn's copy asks for a2wsgi on every start
        return WSGIMiddleware(app, workers=threads)


def serve_uvicorn(loaded: LoadedApp, socket_path: str, graceful_timeout: float,
                  heartbeat: LoopHeartbeat | None = None, threads: int = 10) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        async def serve(self, sockets: Any = None) -> None:
            # uvicorn makes its loop inside run(): the heartbeat joins it before the app is served.
            if heartbeat is not None:
                heartbeat.start(asyncio.get_running_loop())
            await super().serve(sockets)

    wsgi = loaded.interface == "wsgi"
    config = uvicorn.Config(
        wsgi_bridge(loaded.target, threads) if wsgi else loaded.target, uds=socket_path, interface="asgi3",
        # WSGI has no websockets: an upgrade request reaches the app as plain HTTP, as with interface="wsgi".
        ws="none" if wsgi else "auto",
        loop="uvloop", http="httptools", lifespan="off" if wsgi else "auto",
        access_log=False, timeout_keep_alive=KEEPALIVE_SECONDS, timeout_graceful_shutdown=int(graceful_timeout),
        # Only the proxy can reach the socket, and it sends one X-Forwarded-For, its own decision about the
        # client (never the client's list): so "*" trusts exactly that one value, as the aiohttp path does.
        proxy_headers=True, forwarded_allow_ips="*", backlog=1024, log_level="info")
    Server(config).run()
