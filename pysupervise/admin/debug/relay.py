"""The debugger page's WebSocket: same-origin only, one DAP message per text frame, relayed to the app's session."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from pysupervise.admin.responses import error_response
from pysupervise.debugger.contract import STATE_EVENT, DebugControl, DebugError

# DAP messages from a page are small (an evaluate expression, a file's breakpoints).
MAX_MESSAGE_BYTES = 1024 * 1024


def same_origin(request: web.Request) -> bool:
    """The browser's Origin is this page's own: the scheme and host the proxy decided (behind a trusted HTTPS
    balancer, its X-Forwarded-Proto/-Host). Browsers always send Origin on WebSocket upgrades and POSTs, so a
    missing one is refused as well. (The access middleware has already refused hosts that are not the site's.)"""
    origin = request.headers.get("Origin", "")
    scheme = "https" if request.headers.get("X-Forwarded-Proto") == "https" else "http"
    host = request.headers.get("X-Forwarded-Host") or request.headers.get("Host", "")
    return bool(origin) and bool(host) and origin == f"{scheme}://{host}"


class DapRelay:
    """aiohttp handler: a page's messages go to DebugLink.request; the session's messages come back in order."""

    def __init__(self, control: DebugControl) -> None:
        self.control = control

    async def handle(self, request: web.Request) -> web.StreamResponse:
        app = request.match_info["app"]
        if self.control.target(app) is None:
            raise web.HTTPNotFound()
        if not same_origin(request):
            return error_response(request, 403, "the debugger's WebSocket only accepts its own page (Origin)")
        ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_MESSAGE_BYTES)
        if not ws.can_prepare(request).ok:
            return error_response(request, 400, "this URL is the debugger page's WebSocket")
        await ws.prepare(request)
        outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        writer = asyncio.get_running_loop().create_task(self._write(ws, outbox))
        try:
            link = await self.control.connect(app, outbox.put_nowait)
        except DebugError as exc:
            outbox.put_nowait(_state("failed", str(exc)))
            outbox.put_nowait(None)
            await writer
            return ws
        pending: set[asyncio.Task] = set()
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(frame.data)
                except ValueError:
                    message = None
                if not isinstance(message, dict):
                    outbox.put_nowait(_state("error", "each frame must be one JSON object (a DAP request)"))
                    continue
                # Not awaited here: a slow evaluate must not keep this loop from seeing the tab close.
                task = asyncio.get_running_loop().create_task(link.request(message))
                pending.add(task)
                task.add_done_callback(pending.discard)
        finally:
            for task in pending:
                task.cancel()
            link.close()  # the last page to leave ends the session: the worker resumes
            outbox.put_nowait(None)
            await asyncio.gather(writer, return_exceptions=True)
        return ws

    @staticmethod
    async def _write(ws: web.WebSocketResponse, outbox: "asyncio.Queue[dict[str, Any] | None]") -> None:
        while (message := await outbox.get()) is not None:
            if ws.closed:
                return
            try:
                await ws.send_str(json.dumps(message))
            except (ConnectionError, RuntimeError):
                return
        await ws.close()


def _state(state: str, message: str) -> dict[str, Any]:
    return {"seq": 0, "type": "event", "event": STATE_EVENT, "body": {"state": state, "message": message}}
