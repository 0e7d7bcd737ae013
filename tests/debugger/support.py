"""Helpers for the debugger tests: a site hosting the debugger test app, and a hand-written DAP WebSocket client."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any, Callable

import aiohttp

from tests.support.poll import wait_until
from tests.support.site import Site

APPS = Path(__file__).with_name("apps")
COOKIE = "pysupervise_debug_web"

CONFIG = """
[apps.web]
app = "dbgapp:create_app"
dir = "{dir}"
route = "/"
workers = {workers}
watch = ["*.py"]
"""


def every_front_sends_to(site: Site, pid: int, headers: dict[str, str], timeout: float, what: str) -> None:
    """Until each front process has answered /whoami with these headers from the worker `pid`. With `[proxy]
    processes` > 1 a front routes to a new debug worker once the master's routing snapshot reaches it, a moment
    after the master's own front: one answer from it says nothing of the others. Each request is on a new
    connection, so the kernel picks the front; the request id's prefix says which one answered."""
    fronts = len(site.proxy_pids())
    served: set[str] = set()

    def every_front() -> bool:
        response = site.get("/whoami", headers=headers)
        front = response.header("X-Request-Id").split("-")[0]
        if response.json()["pid"] == pid:
            served.add(front)
        else:
            served.discard(front)
        return len(served) >= fronts

    wait_until(every_front, timeout, what)


def debug_site(make_site: Callable[..., Site], tmp_path: Path, workers: int = 2, extra: str = "",
               **start: Any) -> tuple[Site, Path]:
    """A master hosting a copy of tests/debugger/apps (so a test may edit it); returns the site and dbgapp.py."""
    folder = tmp_path / "app"
    shutil.copytree(APPS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    site = make_site(CONFIG.format(dir=folder, workers=workers) + extra, **start)
    return site, folder / "dbgapp.py"


def line_of(path: Path, marker: str) -> int:
    return next(number for number, text in enumerate(path.read_text().splitlines(), 1) if marker in text)


def debug_pid(site: Site) -> int | None:
    return site.app_status("web")["debug_worker"]


class DapClient:
    """DAP over the debugger's WebSocket, as the page speaks it: requests by seq, events in arrival order."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.seq = 0
        self.seen: list[dict[str, Any]] = []

    async def send(self, command: str, arguments: dict[str, Any] | None = None, **extra: Any) -> int:
        self.seq += 1
        message = {"seq": self.seq, "type": "request", "command": command, "arguments": arguments or {}, **extra}
        await self.ws.send_str(json.dumps(message))
        return self.seq

    async def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        """The first message (also among those already seen) that matches; fails after `timeout` seconds."""
        for message in self.seen:
            if predicate(message):
                self.seen.remove(message)
                return message
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no matching DAP message within {timeout} s; saw {self.seen[-10:]}")
            frame = await self.ws.receive(timeout=left)
            if frame.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"the debugger socket closed ({frame.type}); saw {self.seen[-10:]}")
            message = json.loads(frame.data)
            if predicate(message):
                return message
            self.seen.append(message)

    async def request(self, command: str, arguments: dict[str, Any] | None = None,
                      timeout: float = 20) -> dict[str, Any]:
        seq = await self.send(command, arguments)
        return await self.until(lambda m: m.get("type") == "response" and m.get("request_seq") == seq, timeout)

    async def state(self, wanted: str, timeout: float = 20) -> dict[str, Any]:
        """The body of the next pysupervise state event with state `wanted`."""
        message = await self.until(lambda m: m.get("event") == "pysupervise" and m["body"]["state"] == wanted,
                                   timeout)
        return message["body"]

    async def event(self, name: str, timeout: float = 20) -> dict[str, Any]:
        return (await self.until(lambda m: m.get("type") == "event" and m.get("event") == name, timeout))["body"]


def ws_url(site: Site) -> str:
    return site.url.replace("http://", "ws://") + "/web/debug/ws"
