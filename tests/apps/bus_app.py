"""Test app for the bus and cache through a real master: channel fan-out and cache sessions."""

from __future__ import annotations

import asyncio
import os

from aiohttp import web

from pysupervise import bus


class Listener:
    """Subscribes to channel "fanout" at startup and prints every message it receives."""

    def __init__(self) -> None:
        self.client: bus.BusClient | None = None
        self.task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    async def start(self, app: web.Application) -> None:
        self.client = await bus.connect()
        self.task = asyncio.get_running_loop().create_task(self.listen())
        await asyncio.wait_for(self.ready.wait(), 10)

    async def listen(self) -> None:
        async with self.client.subscribe("fanout") as messages:
            self.ready.set()
            async for message in messages:
                print(f"received {message.decode()} in {os.getpid()}", flush=True)

    async def stop(self, app: web.Application) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.client is not None:
            await self.client.close()


async def publish(request: web.Request) -> web.Response:
    count = await request.app["listener"].client.publish_channel("fanout", request.query["message"])
    return web.json_response({"subscribers": count})


async def count(request: web.Request) -> web.Response:
    session = bus.get_session(request)
    session["n"] = session.get("n", 0) + 1
    return web.json_response({"n": session["n"], "pid": os.getpid(),
                              "generation": os.environ["PYSUPERVISE_GENERATION"]})


async def create_app() -> web.Application:
    app = web.Application()
    listener = Listener()
    app["listener"] = listener
    app.on_startup.append(listener.start)
    app.on_cleanup.append(listener.stop)
    bus.setup_sessions(app, await bus.connect_cache())
    app.router.add_get("/publish", publish)
    app.router.add_get("/count", count)
    return app
