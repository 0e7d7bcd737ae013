"""Serves a loaded app on the Unix socket in $PORT until SIGTERM, then finishes in-flight work and exits."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from typing import Any, Callable, Coroutine

from pysupervise.worker.detect import AppFactory, LoadedApp
from pysupervise.worker.heartbeat import LoopHeartbeat
from pysupervise.worker.proxy_scope import ProxyScope

# The proxy decides when pooled connections close (DESIGN §1); workers keep them as long as it likes.
KEEPALIVE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class ServeOptions:
    socket_path: str
    graceful_timeout: float
    threads: int = 10  # WSGI apps: the pool running their handlers


def run_in_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop when it is importable, else on asyncio's own loop.

    The master needs uvloop; a worker may run under another interpreter whose venv has only the app's
    packages, so nothing here requires it (nor httptools: uvicorn's "auto" falls back to h11).
    """
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is not None and hasattr(uvloop, "run"):  # uvloop.run: 0.18 and later
        uvloop.run(main)
    else:
        asyncio.run(main)


async def serve(app: LoadedApp | AppFactory, options: ServeOptions, heartbeat: LoopHeartbeat | None = None,
                on_served: Callable[[LoadedApp], None] | None = None) -> None:
    """Make the app (a factory is called here, in the loop that serves it), then serve it until SIGTERM."""
    if heartbeat is not None:
        heartbeat.start(asyncio.get_running_loop())
    loaded = await app.make() if isinstance(app, AppFactory) else app
    if on_served is not None:
        on_served(loaded)
    if loaded.interface == "aiohttp":
        await serve_aiohttp(loaded.target, options)
    else:
        await serve_uvicorn(loaded, options)


async def serve_aiohttp(app: Any, options: ServeOptions) -> None:
    """aiohttp apps get the URL unchanged, their own convention: an app mounted below "/" is written with
    its prefix in its routes, or as a sub-application (`web.Application.add_subapp`)."""
    from aiohttp import web

    from pysupervise.worker.proxied_request import make_proxied_requests

    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE_SECONDS,
                           shutdown_timeout=options.graceful_timeout)
    await runner.setup()
    make_proxied_requests(runner)
    site = web.UnixSite(runner, options.socket_path, backlog=1024)
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


async def serve_uvicorn(loaded: LoadedApp, options: ServeOptions) -> None:
    import uvicorn

    wsgi = loaded.interface == "wsgi"
    # Outermost, so the WSGI bridge builds SCRIPT_NAME/PATH_INFO from the root_path it sets.
    app = ProxyScope(wsgi_bridge(loaded.target, options.threads) if wsgi else loaded.target)
    config = uvicorn.Config(
        app, uds=options.socket_path, interface="asgi3",
        # WSGI has no websockets: an upgrade request reaches the app as plain HTTP, as with interface="wsgi".
        ws="none" if wsgi else "auto",
        # The loop is run_in_loop's; httptools when installed, else h11.
        loop="none", http="auto", lifespan="off" if wsgi else "auto",
        access_log=False, timeout_keep_alive=KEEPALIVE_SECONDS,
        timeout_graceful_shutdown=int(options.graceful_timeout),
        # Not uvicorn's proxy_headers: ProxyScope applies the proxy's X-Forwarded-For and -Proto in the pass
        # that finds the prefix, and the same on any uvicorn version an app's own Python may have.
        proxy_headers=False, backlog=1024, log_level="info")
    await uvicorn.Server(config).serve()
