"""Debugger test app (aiohttp): a handler to stop in, one that blocks its loop, and a version to reload."""

from __future__ import annotations

import os
import time

from aiohttp import web

VERSION = "one"


async def compute(request: web.Request) -> web.Response:
    number = int(request.query.get("n", "1"))
    doubled = number * 2  # BREAK HERE
    return web.json_response({"pid": os.getpid(), "doubled": doubled, "version": VERSION})


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"pid": os.getpid(), "slot": os.environ.get("PYSUPERVISE_WORKER"),
                              "version": VERSION})


async def block_the_loop(request: web.Request) -> web.Response:
    """Blocks its worker's event loop: what a stack dump of a hung worker looks like."""
    time.sleep(float(request.query.get("seconds", "2")))
    return web.json_response({"pid": os.getpid(), "blocked": True})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/compute", compute)
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/block", block_the_loop)
    return app
