"""A plain ASGI app (no framework) for comparing servers: hello world on `/`, N bytes down on `/download?size=N`.

No framework, so that what differs between the targets is the server in front of the app and not routing code.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_HELLO = b"hello\n"
_BLOCK = b"x" * (256 * 1024)
DEFAULT_DOWNLOAD_BYTES = 1024 * 1024


async def _hello(send: Send) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(_HELLO))]})
    await send({"type": "http.response.body", "body": _HELLO})


async def _download(scope: dict[str, Any], send: Send) -> None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    size = int(query.get("size", [str(DEFAULT_DOWNLOAD_BYTES)])[0])
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"),
                            (b"content-length", b"%d" % size)]})
    sent = 0
    while sent < size:
        piece = _BLOCK[: min(len(_BLOCK), size - sent)]
        sent += len(piece)
        await send({"type": "http.response.body", "body": piece, "more_body": sent < size})
    if size == 0:
        await send({"type": "http.response.body", "body": b""})


async def _not_found(send: Send) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
    elif scope["type"] != "http":
        raise RuntimeError(f"this benchmark app serves HTTP only, not {scope['type']!r}")
    elif scope["path"] == "/":
        await _hello(send)
    elif scope["path"] == "/download":
        await _download(scope, send)
    else:
        await _not_found(send)
