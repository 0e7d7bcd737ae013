"""Test app (aiohttp): prints what it is asked to, to stdout or stderr, and says which worker it is."""

from __future__ import annotations

import asyncio
import os
import sys

from aiohttp import web


async def print_line(request: web.Request) -> web.Response:
    stream = sys.stderr if request.query.get("stream") == "stderr" else sys.stdout
    print(request.query["text"], file=stream, flush=True)
    return web.json_response({"pid": os.getpid(), "slot": int(os.environ["PYSUPERVISE_WORKER"]),
                              "generation": int(os.environ["PYSUPERVISE_GENERATION"])})


async def slow(request: web.Request) -> web.Response:
    """A request that takes a while: drains have something in flight to wait for."""
    await asyncio.sleep(float(request.query.get("seconds", "0.2")))
    return web.json_response({"pid": os.getpid(), "version": os.environ["PYSUPERVISE_GENERATION"]})


async def echo(request: web.Request) -> web.Response:
    """The shape tests/support/load.py checks: the body back, and which generation answered."""
    return web.json_response({"echo": (await request.read()).decode(), "version": os.environ["PYSUPERVISE_GENERATION"]})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/print", print_line)
    app.router.add_get("/slow", slow)
    app.router.add_post("/echo", echo)
    return app
