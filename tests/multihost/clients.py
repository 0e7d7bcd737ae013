"""The clients of the multi-host test: a picture watcher and a chat member per host, and a request loop through
the balancer that counts every failure. Each runs as an asyncio task over aiohttp."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp


def pictures_of(pic: str) -> list[dict[str, Any]]:
    """The media items of one newPic frame's data (the Instagram envelope, as a JSON string)."""
    return json.loads(pic)["data"]


class PictureWatcher:
    """A browser on the wazstagram frontend of one host: watches the universe, records every media item."""

    def __init__(self, http: aiohttp.ClientSession, host_url: str) -> None:
        self.http = http
        self.host_url = host_url
        self.ids: list[str] = []  # in the order received, duplicates kept
        self.image_urls: dict[str, str] = {}  # media id → its low resolution image URL
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> PictureWatcher:
        ws = await self.http.ws_connect(self.host_url + "/ws")
        await ws.send_json({"event": "setCity", "data": {"city": "universe"}})
        self._task = asyncio.get_running_loop().create_task(self._receive(ws))
        return self

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async with ws:
            async for frame in ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                if message.get("event") != "newPic":
                    continue
                for item in pictures_of(message["data"]):
                    self.ids.append(item["id"])
                    self.image_urls[item["id"]] = item["images"]["low_resolution"]["url"]

    def check_alive(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()  # raises what ended it
            raise AssertionError(f"the frontend at {self.host_url} closed the picture socket")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@dataclass
class ChatMember:
    """A chat page on one host: says `count` numbered lines as `nickname`, records every message it hears."""

    http: aiohttp.ClientSession
    host_url: str
    nickname: str
    heard: list[tuple[str, str, str]] = field(default_factory=list)  # (nickname, message, sourceHost), in order
    host: str = ""  # the host id of the worker this member is connected to (its welcome frame says)
    errors: list[dict[str, Any]] = field(default_factory=list)  # error and notice frames: none are expected
    _ws: aiohttp.ClientWebSocketResponse | None = None
    _task: asyncio.Task[None] | None = None

    async def join(self) -> ChatMember:
        self._ws = await self.http.ws_connect(self.host_url + "/chat/ws")
        welcome = await self._ws.receive_json(timeout=10)
        assert welcome["type"] == "welcome", welcome
        self.host = welcome["host"]
        self._task = asyncio.get_running_loop().create_task(self._receive())
        return self

    async def _receive(self) -> None:
        assert self._ws is not None
        async for frame in self._ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            if message.get("type") == "message":
                self.heard.append((message["nickname"], message["message"], message["sourceHost"]))
            else:
                self.errors.append(message)

    async def say(self, count: int) -> None:
        assert self._ws is not None
        for number in range(count):
            await self._ws.send_json({"nickname": self.nickname, "message": f"line {number}"})

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@dataclass
class RequestLoop:
    """`concurrency` clients sending GETs of `paths` through the balancer, round after round, until stopped.
    Every request that does not end in a 200 is a failure, kept with its reason."""

    http: aiohttp.ClientSession
    base_url: str
    paths: tuple[str, ...]
    concurrency: int = 4
    done: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> RequestLoop:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._client(n)) for n in range(self.concurrency)]
        return self

    async def _client(self, number: int) -> None:
        turn = number
        while not self._stop.is_set():
            path = self.paths[turn % len(self.paths)]
            turn += 1
            try:
                async with self.http.get(self.base_url + path, timeout=aiohttp.ClientTimeout(total=30)) as response:
                    await response.read()
                    if response.status != 200:
                        self.failures.append(f"GET {path}: HTTP {response.status}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.failures.append(f"GET {path}: {exc!r}")
            self.done += 1

    async def requests_after(self, count: int, timeout: float = 30) -> None:
        """Wait until `count` more requests have finished (however they ended)."""
        target = self.done + count
        async with asyncio.timeout(timeout):
            while self.done < target:
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)
