"""A tiny aiohttp app for transfer benchmarks: stream N bytes down, swallow an upload of any size."""

from __future__ import annotations

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


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/download", download)
    app.router.add_put("/upload", upload)
    app.router.add_post("/upload", upload)
    return app
