"""/v1/subscriptions: create (after the hub.challenge check against the callback), list and delete."""

from __future__ import annotations

import logging
import secrets
from typing import Callable, Mapping

import aiohttp
from aiohttp import web

from sample_apps.wazstagram.instagram_sim import responses
from sample_apps.wazstagram.instagram_sim.settings import SimSettings
from sample_apps.wazstagram.instagram_sim.store import InstagramStore, Subscription

log = logging.getLogger("wazstagram.instagram_sim")

HANDSHAKE_TIMEOUT = aiohttp.ClientTimeout(total=10)


class SubscriptionsEndpoint:
    """The three methods of /v1/subscriptions; new subscriptions are handed to `on_created`."""

    def __init__(self, store: InstagramStore, settings: SimSettings, http: aiohttp.ClientSession,
                 on_created: Callable[[Subscription], None]) -> None:
        self.store = store
        self.settings = settings
        self.http = http
        self.on_created = on_created

    def _client(self, params: Mapping[str, str]) -> tuple[str, web.Response | None]:
        client_id = params.get("client_id", "")
        secret = self.settings.secret_of(client_id)
        if secret is None:
            return client_id, responses.unknown_client()
        if params.get("client_secret") != secret:
            return client_id, responses.bad_secret()
        return client_id, None

    async def create(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        client_id, refusal = self._client(params)
        if refusal is not None:
            return refusal
        if params.get("object") != "geography" or params.get("aspect", "media") != "media":
            return responses.error("APISubscriptionError", "The simulator only knows object=geography, aspect=media.")
        callback_url = params.get("callback_url", "")
        if not callback_url.startswith(("http://", "https://")):
            return responses.invalid_parameter("callback_url must be an http(s) URL.")
        try:
            latitude, longitude = float(params["lat"]), float(params["lng"])
            radius = float(params.get("radius", "5000"))
        except (KeyError, ValueError):
            return responses.invalid_parameter("lat, lng (and radius, in metres) must be numbers.")
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180 and radius > 0):
            return responses.invalid_parameter("lat, lng or radius out of range.")
        verify_token = params.get("verify_token", "")
        failure = await self._verify(callback_url, verify_token)
        if failure is not None:
            log.warning("subscription for %s refused: %s", callback_url, failure)
            return responses.error("APISubscriptionError", failure)
        geography = self.store.geography_at(latitude, longitude, radius)
        subscription = self.store.subscribe(client_id, geography, callback_url, verify_token)
        log.info("subscription %s: geography %s (%s) -> %s", subscription.id, geography.id, geography.title, callback_url)
        self.on_created(subscription)
        return responses.ok(subscription.as_json())

    async def _verify(self, callback_url: str, verify_token: str) -> str | None:
        """Instagram's handshake: GET the callback with a challenge; only the exact echo passes."""
        challenge = secrets.token_hex(12)
        params = {"hub.mode": "subscribe", "hub.challenge": challenge, "hub.verify_token": verify_token}
        try:
            async with self.http.get(callback_url, params=params, timeout=HANDSHAKE_TIMEOUT) as response:
                body = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"Unable to reach callback URL {callback_url}: {exc!r}"
        if status != 200 or body != challenge:
            return f'Challenge verification failed. Sent "{challenge}", received "{body[:100]}" (HTTP {status}).'
        return None

    async def list(self, request: web.Request) -> web.Response:
        client_id, refusal = self._client(request.query)
        if refusal is not None:
            return refusal
        return responses.ok([s.as_json() for s in self.store.subscriptions_of(client_id)])

    async def delete(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.can_read_body:
            params.update({key: str(value) for key, value in (await request.post()).items()})
        client_id, refusal = self._client(params)
        if refusal is not None:
            return refusal
        if "id" in params:
            removed = self.store.unsubscribe(client_id, subscription_id=params["id"])
        elif params.get("object") in ("all", "geography"):
            removed = self.store.unsubscribe(client_id, everything=True)
        else:
            return responses.invalid_parameter("DELETE needs id=<subscription id> or object=all.")
        log.info("deleted %d subscription(s) of %s", removed, client_id)
        return responses.ok(None)
