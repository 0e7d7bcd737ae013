"""The chat sample app through a real master while its Redis is cut off by a FreezableRelay (issue 17):
503s and error frames at once during the partition, and recovery by itself after it."""

from __future__ import annotations

import asyncio
import json
from typing import Iterator

import aiohttp
import pytest

from tests.bus.relay import FreezableRelay
from tests.bus.servers import eventually

DEADLINE = 5.0  # the bus URL below says request_timeout=1: "fast" is well under the old 30 s
RECOVERY = 20.0

CHAT = """
[services]
bus = "redis://127.0.0.1:{port}/0?health_check=0.5&request_timeout=1"

[apps.chat]
app = "sample_apps.chat:create_app"
dir = "{{repo}}"
route = "/chat"
workers = 2
"""


@pytest.fixture
def relay(redis_server) -> Iterator[FreezableRelay]:  # type: ignore[no-untyped-def]
    redis_server.flush()
    relay = FreezableRelay(("127.0.0.1", redis_server.port)).start()
    try:
        yield relay
    finally:
        relay.close()


async def post(http: aiohttp.ClientSession, url: str, text: str) -> tuple[int, dict, str | None]:
    async with http.post(url + "/chat/messages", data=json.dumps({"nickname": "curl", "message": text})) as response:
        return response.status, await response.json(), response.headers.get("Retry-After")


async def next_frame(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = DEADLINE) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = await ws.receive_json()
            if frame["type"] == kind:
                return frame


async def test_the_chat_answers_503_and_error_frames_during_a_partition_and_recovers_by_itself(make_site, relay) -> None:
    site = await asyncio.to_thread(make_site, CHAT.format(port=relay.port))
    async with aiohttp.ClientSession() as http:
        status, body, _ = await post(http, site.url, "before")
        assert (status, body) == (200, {"delivered": 2})  # both workers subscribed
        status, body, _ = await post(http, site.url, " ")
        assert (status, body) == (400, {"error": "message is empty"})
        ws = await http.ws_connect(site.url + "/chat/ws")
        await next_frame(ws, "welcome")

        relay.freeze()
        async with asyncio.timeout(DEADLINE):
            status, body, retry_after = await post(http, site.url, "during")
        assert status == 503 and retry_after == "5", body
        assert "message bus is unavailable" in body["error"] and "Redis bus" in body["detail"]
        async with http.get(site.url + "/chat/") as page:  # what does not need the bus keeps working
            assert page.status == 200
        await ws.send_str(json.dumps({"nickname": "alice", "message": "into the void"}))
        assert "bus is unavailable" in (await next_frame(ws, "error"))["error"]

        relay.thaw()

        async def both_workers_hear() -> bool:
            status, body, _ = await post(http, site.url, "after")
            return status == 200 and body["delivered"] == 2

        await eventually(both_workers_hear, "both workers to be subscribed again", timeout=RECOVERY)
        notice = await next_frame(ws, "notice", timeout=RECOVERY)
        assert "messages sent meanwhile may be missing" in notice["notice"]
        await ws.send_str(json.dumps({"nickname": "alice", "message": "back"}))
        async with asyncio.timeout(DEADLINE):
            while (frame := await next_frame(ws, "message"))["message"] != "back":
                pass
        assert frame["nickname"] == "alice"
        await ws.close()
