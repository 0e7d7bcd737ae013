"""wazstagram backend role: receives Instagram's realtime callbacks, fetches the new pictures, publishes them to the bus.

What the original did (Node.js + express on an Azure worker role): answered Instagram's subscription
handshake by echoing hub.challenge; on each POST /newimage/<city> looped over the JSON array of
updates, fetched /v1/geographies/<object_id>/media/recent (with &min_id=<newest id seen> after the
first fetch) and sent {"city", "pic": <raw response body>} to the Service Bus topic "wazages";
every 60 s it deleted topic subscriptions with more than 100 waiting messages (dead frontends).
It logged each step with winston.

What we changed:
* the topic is pysupervise's bus (embedded or Redis), not Azure Service Bus;
* the handshake checks hub.verify_token when VERIFY_TOKEN is set (403 otherwise; the original never checked);
* notifications must carry X-Hub-Signature (HMAC-SHA1 of the raw body, keyed with
  INSTAGRAM_CLIENT_SECRET) when that secret is set — 403 and nothing published otherwise;
* a body that is not a JSON array gets 400 (the original crashed); the callback is answered
  before any fetching happens, and a city's updates are fetched in order;
* the per-city min_id lives in the shared cache, so every worker continues where another stopped
  (and in the worker's memory too, for a cache that lost it: a Redis restarted without persistence);
* worker slot 0 registers the eight city subscriptions with Instagram (the simulator) by itself
  on start and re-checks them every REGISTER_INTERVAL s (10), so the site needs no setup step;
* cleanup period and threshold are settings (CLEANUP_INTERVAL, CLEANUP_MAX_WAITING).

Run alone: ``python -m sample_apps.wazstagram.backend --port 8081 --instagram-api http://127.0.0.1:8082/v1``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, AsyncIterator

import aiohttp
from aiohttp import web

from pysupervise import bus
from sample_apps.wazstagram.backend.fetcher import PictureFetcher
from sample_apps.wazstagram.backend.janitor import SubscriptionJanitor
from sample_apps.wazstagram.backend.newest_ids import NewestIds
from sample_apps.wazstagram.backend.registration import CityRegistrar
from sample_apps.wazstagram.backend.settings import BackendSettings
from sample_apps.wazstagram.logs import log_to_stdout
from sample_apps.wazstagram.signature import HEADER, signature_matches

log = logging.getLogger("wazstagram.backend")

CITY_PATTERN = "{city:[A-Za-z0-9_-]{1,64}}"


class Backend:
    """Owns the backend worker's connections (bus, cache, HTTP) and its background jobs."""

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self.fetcher: PictureFetcher | None = None
        self.janitor: SubscriptionJanitor | None = None
        self.registrar: CityRegistrar | None = None

    async def lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        settings = self.settings
        bus_client = await bus.connect(settings.bus_url)
        cache = await bus.connect_cache(settings.cache_url)
        http = aiohttp.ClientSession()
        self.fetcher = PictureFetcher(settings, http, bus_client, NewestIds(cache))
        self.janitor = SubscriptionJanitor(bus_client, settings.topic, settings.cleanup_interval,
                                           settings.cleanup_max_waiting)
        self.registrar = CityRegistrar(settings, http)
        loop = asyncio.get_running_loop()
        jobs = [loop.create_task(self.janitor.run())]
        if settings.register and settings.worker == 0:
            jobs.append(loop.create_task(self.registrar.run()))
        try:
            yield
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            await self.fetcher.close()
            await http.close()
            await cache.close()
            await bus_client.close()

    async def handshake(self, request: web.Request) -> web.Response:
        """GET /newimage/<city>?hub.mode=subscribe&hub.challenge=X&hub.verify_token=T → X."""
        city = request.match_info["city"]
        challenge = request.query.get("hub.challenge")
        log.info("the challenge for %s is: %s", city, challenge)
        expected = self.settings.verify_token
        if expected is not None and request.query.get("hub.verify_token") != expected:
            log.warning("handshake for %s refused: wrong hub.verify_token", city)
            raise web.HTTPForbidden(text="wrong hub.verify_token\n")
        if challenge is None:
            raise web.HTTPBadRequest(text="missing hub.challenge\n")
        return web.Response(text=challenge)

    async def callback(self, request: web.Request) -> web.Response:
        """POST /newimage/<city> with a JSON array of updates: answered at once, fetched afterwards."""
        city = request.match_info["city"]
        body = await request.read()
        secret = self.settings.client_secret
        if secret is not None and not signature_matches(secret, body, request.headers.get(HEADER)):
            log.warning("callback for %s refused: %s", city,
                        "bad X-Hub-Signature" if HEADER in request.headers else "no X-Hub-Signature")
            raise web.HTTPForbidden(text="invalid or missing X-Hub-Signature\n")
        try:
            updates: Any = json.loads(body)
        except ValueError:
            updates = None
        if not isinstance(updates, list):
            log.warning("callback for %s refused: the body is not a JSON array", city)
            raise web.HTTPBadRequest(text="expected a JSON array of updates\n")
        log.info("received a new image callback for %s (%d update(s))", city, len(updates))
        assert self.fetcher is not None
        self.fetcher.schedule(city, updates)
        return web.Response(text="")


BACKEND = web.AppKey("backend", Backend)


def create_app(settings: BackendSettings | None = None) -> web.Application:
    """The backend as an aiohttp app; settings default to the environment."""
    log_to_stdout("wazstagram.backend")
    backend = Backend(settings or BackendSettings.from_env())
    app = web.Application()
    app[BACKEND] = backend
    app.cleanup_ctx.append(backend.lifecycle)
    app.router.add_get(f"/newimage/{CITY_PATTERN}", backend.handshake)
    app.router.add_post(f"/newimage/{CITY_PATTERN}", backend.callback)
    return app
