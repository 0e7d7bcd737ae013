"""Hello world on aiohttp: the smallest app pysupervise hosts, and the one the benchmarks load."""

from __future__ import annotations

import os

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text=f"Hello from worker {os.environ.get('PYSUPERVISE_WORKER', '?')} (pid {os.getpid()})\n")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/hello", hello)
    return app
