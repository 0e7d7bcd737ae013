"""wazstagram frontend role: one durable topic subscription per worker, a per-city picture cache, and the live page.

What the original did (Node.js + express + socket.io on Azure web roles): each process created a
Service Bus subscription named by a fresh UUID on topic "wazages" and looped receiving from it
(5 s wait; after an error, log and retry in 1 s). Each message {"city", "pic"} was cached under its
city and under "universe" (newest 150 each) and emitted as "newPic" to the socket.io rooms of that
city and of "universe". A socket sending setCity got the city's cached pictures, oldest first,
then joined the room. The page, using jQuery and socket.io from CDNs, showed the pictures.

What we changed:
* pysupervise's bus instead of Service Bus, and native WebSockets at /ws instead of socket.io:
  the client sends {"event": "setCity", "data": {"city": …}}, the server sends {"event": "newPic", "data": <pic>};
* no CDN: the page's script and style are served locally (by the proxy under /static when
  hosted, by this app when run alone); text is escaped; username and caption show on hover;
* a socket that picks a new city leaves its old room; each socket has a bounded outbox, so a
  slow browser cannot hold up the others;
* a subscription deleted by the backend's cleanup is created again, and a clean stop deletes it.
* pictures this worker already passed on are not sent again (FreshPictures): after a Redis restart
  without persistence the backend has lost its min_ids and publishes the latest pictures again;
* on a host without the Instagram simulator, /media/… reaches the frontend (pysupervise routes it to the
  simulator only where one runs), which relays it to MEDIA_ORIGIN, a site that runs one (MediaRelay).

Run alone: ``python -m sample_apps.wazstagram.frontend --port 8080 --bus URL`` (the bus the backend publishes to).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any, AsyncIterator

from aiohttp import WSCloseCode, WSMsgType, web

from pysupervise import bus
from sample_apps.wazstagram.cities import UNIVERSE
from sample_apps.wazstagram.frontend.fresh_pictures import FreshPictures
from sample_apps.wazstagram.frontend.media_relay import MediaRelay
from sample_apps.wazstagram.frontend.page import render_page
from sample_apps.wazstagram.frontend.pic_cache import PictureCache
from sample_apps.wazstagram.frontend.receiver import TopicReceiver
from sample_apps.wazstagram.frontend.rooms import Rooms, Viewer
from sample_apps.wazstagram.frontend.settings import FrontendSettings
from sample_apps.wazstagram.logs import log_to_stdout

log = logging.getLogger("wazstagram.frontend")

STATIC_DIR = Path(__file__).resolve().parent / "static"
CITY_PATTERN = "{city:[A-Za-z0-9_-]{1,64}}"
MAX_CITY_LENGTH = 64


def new_pic_frame(pic: str) -> str:
    return json.dumps({"event": "newPic", "data": pic})


class Frontend:
    """Owns this worker's subscription, picture cache and websocket rooms."""

    def __init__(self, settings: FrontendSettings) -> None:
        self.settings = settings
        self.cache = PictureCache(settings.cache_size)
        self.fresh = FreshPictures()
        self.rooms = Rooms()
        self.receiver: TopicReceiver | None = None
        self.media = MediaRelay(settings.media_origin)
        self._sockets: set[web.WebSocketResponse] = set()

    async def lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self.media.connected())
            client = await bus.connect(self.settings.bus_url)
            stack.push_async_callback(client.close)
            self.receiver = TopicReceiver(client, self.settings.topic, self.on_message, self.settings.receive_wait,
                                          self.settings.retry_pause)
            # Subscribed before this worker counts as ready: nothing published after that is missed.
            await self.receiver.subscribe()
            stack.push_async_callback(self.receiver.unsubscribe)
            receiving = asyncio.get_running_loop().create_task(self.receiver.run())
            try:
                yield
            finally:
                receiving.cancel()
                await asyncio.gather(receiving, return_exceptions=True)

    async def close_sockets(self, _app: web.Application) -> None:
        """On shutdown: browsers reconnect (to another worker) instead of holding the stop for the graceful timeout."""
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"worker stopping")
                               for ws in list(self._sockets)), return_exceptions=True)

    def on_message(self, raw: bytes) -> None:
        message: Any = json.loads(raw)
        city, pic = message.get("city"), message.get("pic")
        if not isinstance(city, str) or not isinstance(pic, str):
            log.error("ignoring a message without a city and a pic string: %.200r", raw)
            return
        pic = self.fresh.only_new(city, pic)
        if pic is None:
            log.info("pictures from %s already shown: not sent again", message["city"])
            return
        log.info("new pic published from: %s", city)
        self.cache.add(city, pic)
        frame = new_pic_frame(pic)
        self.rooms.send(city, frame)
        if city != UNIVERSE:
            self.rooms.send(UNIVERSE, frame)

    def set_city(self, viewer: Viewer, city: str) -> None:
        log.info("new connection for %s", city)
        # Replay and join with no await in between: no picture can fall between the two.
        for pic in self.cache.replay(city):
            viewer.send(new_pic_frame(pic))
        self.rooms.join(viewer, city)

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(text=render_page(request.match_info.get("city", UNIVERSE)), content_type="text/html")

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        viewer = Viewer(ws)
        self._sockets.add(ws)
        try:
            async for frame in ws:
                if frame.type == WSMsgType.TEXT:
                    self._handle_event(viewer, frame.data)
        finally:
            self.rooms.leave(viewer)
            self._sockets.discard(ws)
            await viewer.close()
        return ws

    def _handle_event(self, viewer: Viewer, text: str) -> None:
        try:
            event = json.loads(text)
            city = event["data"]["city"] if event.get("event") == "setCity" else None
        except (ValueError, KeyError, TypeError, AttributeError):
            city = None
        if isinstance(city, str) and 0 < len(city) <= MAX_CITY_LENGTH:
            self.set_city(viewer, city)
        else:
            log.warning("ignoring a websocket message that is not a valid setCity: %.200r", text)


FRONTEND = web.AppKey("frontend", Frontend)


def create_app(settings: FrontendSettings | None = None) -> web.Application:
    """The frontend as an aiohttp app; settings default to the environment."""
    log_to_stdout("wazstagram.frontend")
    frontend = Frontend(settings or FrontendSettings.from_env())
    app = web.Application()
    app[FRONTEND] = frontend
    app.cleanup_ctx.append(frontend.lifecycle)
    app.on_shutdown.append(frontend.close_sockets)
    app.router.add_get("/", frontend.page)
    app.router.add_get("/ws", frontend.websocket)
    app.router.add_static("/static", STATIC_DIR)
    app.router.add_get("/media/{path:.+}", frontend.media.picture)
    app.router.add_get(f"/{CITY_PATTERN}", frontend.page)
    return app
