"""A tiny aiohttp app for the benchmarks: hello, stream N bytes down, swallow an upload of any size, or block the
worker's event loop (benchmarks/busy_worker.py)."""

from __future__ import annotations

import time

from aiohttp import web

_BLOCK = b"x" * (256 * 1024)


async def download(request: web.Request) -> web.StreamResponse:
    size = int(request.query.get("size", str(100 * 1024 * 1024)))
    response = web.StreamResponse()
    response.content_length = size
    await response.prepare(request)
    sent = 0
    while sent < size:
        piece = _BLOCK[: min(len(_BLOCK), size - sent)]
        await response.write(piece)
        sent += len(piece)
    return response


async def upload(request: web.Request) -> web.Response:
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
    return web.Response(text=str(size))


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello\n")


async def block(request: web.Request) -> web.Response:
    """What a CPU-bound handler, or a blocking call in an async one, does: nothing else runs in this worker."""
    time.sleep(float(request.query.get("seconds", "0.2")))
    return web.Response(text="done\n")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/download", download)
    app.router.add_get("/block", block)
    app.router.add_put("/upload", upload)
    app.router.add_post("/upload", upload)
    return app
