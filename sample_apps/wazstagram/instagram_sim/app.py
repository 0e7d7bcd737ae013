"""Instagram simulator: an offline stand-in for the Instagram v1 API and its realtime geography subscriptions.

The original wazstagram depended on the real Instagram: it registered geography subscriptions with
api.instagram.com, Instagram POSTed notifications to the backend, and the backend fetched
/v1/geographies/<id>/media/recent. That API is long gone, so this app plays Instagram's part,
hosted by pysupervise at /v1 and /media like any other app:

* POST/GET/DELETE /v1/subscriptions/ — creating one performs the hub.challenge handshake against the
  callback first; the same callback for the same geography is one subscription (idempotent).
* GET /v1/geographies/<id>/media/recent?client_id=…[&min_id=…][&count=…] — v1-shaped media, newest first.
* a generator that adds seeded random pictures to subscribed geographies and POSTs signed
  (X-Hub-Signature) notification batches to their callbacks;
* GET /media/<city>/<id>_<user>_<size>.svg and /media/users/<user>.svg — generated placeholder pictures.

Its state lives in memory, so it runs as exactly one worker (workers = 1 in supervisor.toml).
Run alone: ``python -m sample_apps.wazstagram.instagram_sim --port 8082``.
"""

from __future__ import annotations

import asyncio
import random
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from sample_apps.wazstagram.instagram_sim import responses
from sample_apps.wazstagram.instagram_sim.media import MediaFactory
from sample_apps.wazstagram.instagram_sim.notifier import NotificationGenerator
from sample_apps.wazstagram.instagram_sim.placeholder import avatar_svg, picture_svg
from sample_apps.wazstagram.instagram_sim.settings import SimSettings
from sample_apps.wazstagram.instagram_sim.store import InstagramStore
from sample_apps.wazstagram.instagram_sim.subscriptions import SubscriptionsEndpoint
from sample_apps.wazstagram.logs import log_to_stdout

DEFAULT_COUNT = 20
MAX_COUNT = 100
SVG_HEADERS = {"Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=31536000, immutable"}


class Simulator:
    """Owns the simulated Instagram: its store, its HTTP client and its notification generator."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.store = InstagramStore(MediaFactory(random.Random(settings.seed), settings.media_base),
                                    settings.keep_items, settings.initial_items)
        self.notifier: NotificationGenerator | None = None
        self.endpoint: SubscriptionsEndpoint | None = None

    async def lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            self.notifier = NotificationGenerator(self.store, self.settings, http, random.Random(self.settings.seed + 1))
            self.endpoint = SubscriptionsEndpoint(self.store, self.settings, http, self.notifier.welcome)
            running = asyncio.get_running_loop().create_task(self.notifier.run()) if self.settings.notify else None
            try:
                yield
            finally:
                if running is not None:
                    running.cancel()
                    await asyncio.gather(running, return_exceptions=True)
                await self.notifier.close()

    # -- /v1 ----------------------------------------------------------------------------------

    async def create_subscription(self, request: web.Request) -> web.Response:
        assert self.endpoint is not None
        return await self.endpoint.create(request)

    async def list_subscriptions(self, request: web.Request) -> web.Response:
        assert self.endpoint is not None
        return await self.endpoint.list(request)

    async def delete_subscriptions(self, request: web.Request) -> web.Response:
        assert self.endpoint is not None
        return await self.endpoint.delete(request)

    async def recent_media(self, request: web.Request) -> web.Response:
        if self.settings.secret_of(request.query.get("client_id", "")) is None:
            return responses.unknown_client()
        try:
            count = int(request.query.get("count", DEFAULT_COUNT))
            min_id = int(request.query["min_id"]) if request.query.get("min_id") else None
        except ValueError:
            return responses.invalid_parameter("count and min_id must be integers.")
        if not 1 <= count <= MAX_COUNT:
            return responses.invalid_parameter(f"count must be between 1 and {MAX_COUNT}.")
        media = self.store.recent(request.match_info["geography_id"], min_id, count)
        if media is None:
            return responses.error("APINotFoundError", "No geography with this id has been subscribed to.")
        return responses.ok(media, pagination={})

    # -- /media -------------------------------------------------------------------------------

    async def picture(self, request: web.Request) -> web.Response:
        svg = picture_svg(request.match_info["place"], request.match_info["file"])
        if svg is None:
            raise web.HTTPNotFound(text="no such picture\n")
        return web.Response(text=svg, headers=SVG_HEADERS)

    async def avatar(self, request: web.Request) -> web.Response:
        svg = avatar_svg(request.match_info["file"])
        if svg is None:
            raise web.HTTPNotFound(text="no such profile picture\n")
        return web.Response(text=svg, headers=SVG_HEADERS)


SIMULATOR = web.AppKey("simulator", Simulator)


def create_app(settings: SimSettings | None = None) -> web.Application:
    """The simulator as an aiohttp app; settings default to the environment (SIM_* variables)."""
    log_to_stdout("wazstagram.instagram_sim")
    simulator = Simulator(settings or SimSettings.from_env())
    app = web.Application()
    app[SIMULATOR] = simulator
    app.cleanup_ctx.append(simulator.lifecycle)
    for path in ("/v1/subscriptions", "/v1/subscriptions/"):
        app.router.add_post(path, simulator.create_subscription)
        app.router.add_get(path, simulator.list_subscriptions)
        app.router.add_delete(path, simulator.delete_subscriptions)
    app.router.add_get("/v1/geographies/{geography_id}/media/recent", simulator.recent_media)
    app.router.add_get("/media/users/{file}", simulator.avatar)
    app.router.add_get("/media/{place}/{file}", simulator.picture)
    return app

