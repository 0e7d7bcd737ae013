"""Test app (aiohttp): one handler per behaviour the foundation tests check. Routes live under $PREFIX."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time

from aiohttp import web

PREFIX = os.environ.get("PREFIX", "")


class Counter:
    """Per-worker state, to show that sequential requests can reach the same worker."""

    def __init__(self) -> None:
        self.value = 0


class Gates:
    """Named events a test opens with /release, so streaming tests need no timing."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}
        self.download_progress = 0

    def get(self, name: str) -> asyncio.Event:
        return self.events.setdefault(name, asyncio.Event())


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"pid": os.getpid(), "slot": os.environ.get("PYSUPERVISE_WORKER"),
                              "generation": os.environ.get("PYSUPERVISE_GENERATION"),
                              "app": os.environ.get("PYSUPERVISE_APP"), "port": os.environ.get("PORT"),
                              "host": os.environ.get("PYSUPERVISE_HOST"),
                              "cwd": os.getcwd(), "path": request.path_qs})


async def client(request: web.Request) -> web.Response:
    """Who aiohttp says the client is (the worker runtime sets these from the proxy's decision)."""
    return web.json_response({"remote": request.remote, "scheme": request.scheme, "secure": request.secure})


async def client_cloned(request: web.Request) -> web.Response:
    """What an app's own `clone(remote=..., scheme=...)` gives: its values win over the proxy's."""
    cloned = request.clone(remote="198.51.100.9", scheme="https")
    return web.json_response({"remote": cloned.remote, "scheme": cloned.scheme, "original": request.remote})


async def count(request: web.Request) -> web.Response:
    counter: Counter = request.app["counter"]
    counter.value += 1
    return web.json_response({"pid": os.getpid(), "count": counter.value})


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type=request.content_type)


async def digest(request: web.Request) -> web.Response:
    """Streams the body (any size) and answers its length and sha256."""
    sha, size = hashlib.sha256(), 0
    pause = float(request.query.get("pause", "0"))  # seconds after each 64 KiB: a worker that reads slowly
    async for chunk in request.content.iter_chunked(65536):
        sha.update(chunk)
        size += len(chunk)
        if pause:
            await asyncio.sleep(pause)
    return web.json_response({"size": size, "sha256": sha.hexdigest(),
                              "transfer_encoding": request.headers.get("Transfer-Encoding"),
                              "content_length": request.headers.get("Content-Length")})


async def read_file(request: web.Request) -> web.Response:
    with open("data.txt", encoding="utf-8") as handle:  # relative: proves cwd is the app's dir
        return web.Response(text=handle.read())


async def env(request: web.Request) -> web.Response:
    name = request.query["name"]
    return web.json_response({"defined": name in os.environ, "value": os.environ.get(name)})


async def headers(request: web.Request) -> web.Response:
    return web.json_response({"headers": [[k, v] for k, v in request.headers.items()]})


async def dup_headers(request: web.Request) -> web.Response:
    response = web.Response(text="dup")
    response.headers.add("X-Dup", "one")
    response.headers.add("X-Dup", "two")
    response.headers.add("X-Empty", "")
    response.headers.add("Set-Cookie", "a=1; Path=/")
    response.headers.add("Set-Cookie", "b=2; Path=/")
    return response


async def download(request: web.Request) -> web.StreamResponse:
    size = int(request.query["size"])
    gates: Gates = request.app["gates"]
    response = web.StreamResponse()
    response.content_length = size
    await response.prepare(request)
    block = bytes(range(256)) * 256  # 64 KiB of a known pattern
    sent = 0
    gates.download_progress = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        await response.write(piece)  # waits while the proxy applies backpressure
        sent += len(piece)
        gates.download_progress = sent
    await response.write_eof()
    return response


async def progress(request: web.Request) -> web.Response:
    return web.json_response({"sent": request.app["gates"].download_progress})


async def sse(request: web.Request) -> web.StreamResponse:
    """Event 1, then wait for /release?gate=NAME, then event 2."""
    gate = request.app["gates"].get(request.query["gate"])
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    await response.write(b"data: first\n\n")
    await gate.wait()
    await response.write(b"data: second\n\n")
    await response.write_eof()
    return response


async def burst(request: web.Request) -> web.StreamResponse:
    """SSE: `size` bytes of 64 KiB events as fast as they go, `data: ready`, then /release?gate=NAME, `data: done`.

    /progress says how many bytes of the burst (ready included) the worker has written so far.
    """
    gates: Gates = request.app["gates"]
    gate = gates.get(request.query["gate"])
    size = int(request.query["size"])
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    event = b"data: " + b"e" * (65536 - 8) + b"\n\n"
    gates.download_progress = 0
    for _ in range(size // len(event)):
        await response.write(event)  # waits while the proxy applies backpressure
        gates.download_progress += len(event)
    await response.write(b"data: ready\n\n")
    gates.download_progress = size
    await gate.wait()
    await response.write(b"data: done\n\n")
    await response.write_eof()
    return response


async def stall(request: web.Request) -> web.StreamResponse:
    """A response of `size` bytes (Content-Length) of which `sent` are written, then nothing until /release?gate=."""
    gate = request.app["gates"].get(request.query["gate"])
    response = web.StreamResponse()
    response.content_length = int(request.query["size"])
    await response.prepare(request)
    await response.write(b"s" * int(request.query["sent"]))
    print(f"stalled {request.query['gate']}", flush=True)  # in the kernel by now: the proxy gets them, even if we die
    await gate.wait()
    return response


async def release(request: web.Request) -> web.Response:
    request.app["gates"].get(request.query["gate"]).set()
    return web.Response(text="released")


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    await ws.send_str(f"hello from {os.getpid()}")  # server push before the client says anything
    async for message in ws:
        if message.type == web.WSMsgType.TEXT:
            if message.data == "close":
                await ws.close()
            else:
                await ws.send_str("echo:" + message.data)
        elif message.type == web.WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


async def slow(request: web.Request) -> web.Response:
    if "stderr" in request.query:  # what an error page about this request shows loopback clients
        print(request.query["stderr"], file=sys.stderr, flush=True)
    await asyncio.sleep(float(request.query.get("seconds", "1")))
    if "marker" in request.query:  # lets a test see that the handler ran to its end, even after a 504
        with open(request.query["marker"], "w") as handle:
            handle.write(str(os.getpid()))
    return web.json_response({"pid": os.getpid(), "slept": float(request.query.get("seconds", "1"))})


async def block(request: web.Request) -> web.Response:
    time.sleep(float(request.query.get("seconds", "1")))  # a blocking call: the event loop stops with it
    return web.json_response({"pid": os.getpid()})


async def crash(request: web.Request) -> web.Response:
    print("about to crash", file=sys.stderr, flush=True)
    os._exit(17)


async def flood(request: web.Request) -> web.Response:
    """Print `mb` megabytes to stdout as fast as the pipe takes them."""
    line = (b"flood " + b"x" * 1017 + b"\n")  # 1 KiB per line
    for _ in range(int(request.query.get("mb", "1")) * 1024):
        sys.stdout.buffer.write(line)
    sys.stdout.buffer.flush()
    return web.Response(text="flooded")


async def say(request: web.Request) -> web.Response:
    print(request.query.get("line", "hello"), flush=True)
    return web.Response(text="said")


async def no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def not_modified(request: web.Request) -> web.Response:
    return web.Response(status=304, headers={"ETag": '"v1"'})


async def streamed(request: web.Request) -> web.StreamResponse:
    """A chunked response in pieces separated by pauses (no Content-Length)."""
    response = web.StreamResponse()
    await response.prepare(request)
    for i in range(int(request.query.get("pieces", "3"))):
        await response.write(f"piece-{i}\n".encode())
        await asyncio.sleep(float(request.query.get("pause", "0.05")))
    await response.write_eof()
    return response


def create_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["counter"] = Counter()
    app["gates"] = Gates()
    for method, path, handler in [
        ("GET", "/whoami", whoami), ("GET", "/count", count), ("POST", "/echo", echo),
        ("POST", "/digest", digest), ("PUT", "/digest", digest), ("GET", "/file", read_file),
        ("GET", "/env", env), ("GET", "/headers", headers), ("GET", "/dup", dup_headers),
        ("GET", "/download", download), ("GET", "/slow", slow), ("POST", "/slow", slow),
        ("GET", "/crash", crash), ("POST", "/crash", crash), ("GET", "/say", say), ("GET", "/flood", flood),
        ("GET", "/no-content", no_content), ("GET", "/not-modified", not_modified), ("GET", "/streamed", streamed),
        ("GET", "/sse", sse), ("GET", "/release", release), ("GET", "/ws", websocket), ("GET", "/progress", progress),
        ("GET", "/client", client),
        ("GET", "/client-cloned", client_cloned),
        ("GET", "/burst", burst), ("POST", "/block", block), ("GET", "/stall", stall),
    ]:
        if method == "GET":
            app.router.add_get(PREFIX + path, handler)  # with HEAD
        else:
            app.router.add_route(method, PREFIX + path, handler)
    return app


async def create_app_async() -> web.Application:
    await asyncio.sleep(0)
    return create_app()


application = create_app()
