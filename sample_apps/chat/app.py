"""chat: one chat room across every worker, relayed through a pysupervise bus channel.

What the original did (a socket.io chat from the 2013 "scaling node.js on Azure" posts): the page
asked for a nickname and a message and showed a table of messages; the server broadcast each
message to the sockets connected to the same process. Scaled out to several instances, that was
the bug the posts demonstrated: a message reached only the clients of the instance that received
it. The fix there was a pub/sub backplane between the instances.

What we changed:
* native WebSockets at /chat/ws instead of socket.io, and no CDN (the page's files are local);
* every message is published to the bus channel "chat" with the receiving worker's slot added as
  sourceWorker (and its host, $PYSUPERVISE_HOST, as sourceHost), and every worker relays each channel
  message to all of its own sockets — even the sender's own message comes back through the bus. Each
  row shows and is coloured by its source host/worker, and the page shows which host and worker it is
  connected to (behind a load balancer, slot 0 runs on every host);
* nicknames (random adjective-noun, at most 12 characters) and messages (at most 140) are checked
  on the server; an over-long or empty field gets an error frame on that socket and nothing is
  sent; the page escapes everything it shows;
* the page says "Connected" when its socket opens and "Re-connected" after a reconnect;
* POST /chat/messages sends a message without a websocket (a bot, curl); it answers
  {"delivered": <workers that got it>};
* when the bus is unreachable or silent, an HTTP request that needs it gets a 503 with a clear
  JSON error at once (not a hang and a generic 500 page), a websocket message gets an error
  frame, and when the channel subscription is live again every page gets a notice that messages
  may have been missed in between (the subscription reconnects by itself).

Run alone: ``python -m sample_apps.chat --port 8083`` (then open http://127.0.0.1:8083/chat/).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import AsyncIterator

from aiohttp import WSCloseCode, WSMsgType, web

from pysupervise import bus
from sample_apps.chat.messages import (
    InvalidMessage, error_frame, from_channel, from_client, message_frame, notice_frame, welcome_frame,
)
from sample_apps.chat.names import random_nickname
from sample_apps.chat.room import LocalRoom, Participant
from sample_apps.chat.settings import ChatSettings

log = logging.getLogger("chat")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_FRAME = 4096  # bytes; a valid message is far smaller
RESUBSCRIBE_PAUSE = 1.0
RETRY_AFTER = 5  # seconds, in a 503 while the bus is unavailable


class Chat:
    """Owns this worker's bus connection, its channel relay and its local room."""

    def __init__(self, settings: ChatSettings) -> None:
        self.settings = settings
        self.room = LocalRoom()
        self.bus: bus.BusClient | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    async def lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        self.bus = await bus.connect(self.settings.bus_url)
        # Listening before this worker counts as ready, so no message sent after that is missed.
        subscription = await self.bus.subscribe(self.settings.channel).open()
        relaying = asyncio.get_running_loop().create_task(self._relay(subscription))
        try:
            yield
        finally:
            relaying.cancel()
            await asyncio.gather(relaying, return_exceptions=True)
            await self.bus.close()

    async def _relay(self, subscription: bus.ChannelSubscription) -> None:
        assert self.bus is not None
        while True:
            try:
                async for raw in subscription:
                    try:
                        self.room.broadcast(message_frame(from_channel(raw)))
                    except (ValueError, InvalidMessage) as exc:
                        log.warning("dropping an invalid message from channel %s: %s", self.settings.channel, exc)
            except bus.MessagesMissed as gap:
                # The subscription reconnected by itself; the room only has to hear of the hole.
                log.warning("%s", gap)
                self.room.broadcast(notice_frame(
                    f"the message bus was unreachable for {gap.until - gap.since:.0f}s; "
                    "messages sent meanwhile may be missing"))
                continue
            except bus.BusError as exc:
                log.error("the subscription to channel %s failed: %r; subscribing again", self.settings.channel, exc)
            await subscription.aclose()
            await asyncio.sleep(RESUBSCRIBE_PAUSE)
            try:
                subscription = await self.bus.subscribe(self.settings.channel).open()
            except bus.BusError as exc:
                log.error("subscribing to channel %s failed: %r", self.settings.channel, exc)

    async def close_sockets(self, _app: web.Application) -> None:
        """On shutdown: pages reconnect (to another worker) instead of holding the stop for the graceful timeout."""
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"worker stopping")
                               for ws in list(self._sockets)), return_exceptions=True)

    async def page(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def to_page(self, _request: web.Request) -> web.Response:
        raise web.HTTPFound(self.settings.prefix + "/")

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
        await ws.prepare(request)
        participant = Participant(ws)
        self.room.add(participant)
        self._sockets.add(ws)
        participant.send(welcome_frame(self.settings.worker, os.getpid(), random_nickname(), self.settings.host))
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    await self._publish(participant, frame.data)
        finally:
            self.room.remove(participant)
            self._sockets.discard(ws)
            await participant.close()
        return ws

    async def post_message(self, request: web.Request) -> web.Response:
        """POST {"nickname", "message"}: the same checks and the same channel as a websocket message."""
        assert self.bus is not None
        try:
            message = from_client(await request.text(), self.settings.worker, self.settings.host)
        except InvalidMessage as exc:
            return web.json_response({"error": str(exc)}, status=400)
        delivered = await self.bus.publish_channel(self.settings.channel, message.to_json())
        return web.json_response({"delivered": delivered})

    async def _publish(self, participant: Participant, text: str) -> None:
        assert self.bus is not None
        try:
            message = from_client(text, self.settings.worker, self.settings.host)
        except InvalidMessage as exc:
            participant.send(error_frame(str(exc)))
            return
        try:
            await self.bus.publish_channel(self.settings.channel, message.to_json())
        except bus.BusError as exc:
            log.error("publishing to channel %s failed: %r", self.settings.channel, exc)
            participant.send(error_frame("the message could not be sent (the bus is unavailable); try again"))


CHAT = web.AppKey("chat", Chat)


@web.middleware
async def bus_unavailable_is_503(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """A request that needs the bus while it is down gets a clear 503 now, not aiohttp's generic 500 page.

    The bus client fails at once while it knows the bus is silent, so this answers immediately;
    Retry-After tells clients when trying again makes sense.
    """
    try:
        return await handler(request)
    except bus.BusUnavailable as exc:
        log.error("%s %s: the bus is unavailable: %s", request.method, request.path, exc)
        return web.json_response(
            {"error": "the chat's message bus is unavailable; try again shortly", "detail": str(exc)},
            status=503, headers={"Retry-After": str(RETRY_AFTER)},
        )


def create_app(settings: ChatSettings | None = None) -> web.Application:
    """The chat as an aiohttp app; settings default to the environment."""
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    chat = Chat(settings or ChatSettings.from_env())
    prefix = chat.settings.prefix
    app = web.Application(middlewares=[bus_unavailable_is_503])
    app[CHAT] = chat
    app.cleanup_ctx.append(chat.lifecycle)
    app.on_shutdown.append(chat.close_sockets)
    app.router.add_get(prefix, chat.to_page)
    app.router.add_get(prefix + "/", chat.page)
    app.router.add_get(prefix + "/ws", chat.websocket)
    app.router.add_post(prefix + "/messages", chat.post_message)
    app.router.add_static(prefix + "/static", STATIC_DIR)
    return app
