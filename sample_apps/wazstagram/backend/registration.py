"""Registers one Instagram geography subscription per city, with this site's /newimage/<city> as the callback."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from sample_apps.wazstagram.backend.settings import BackendSettings
from sample_apps.wazstagram.cities import CITIES, City

log = logging.getLogger("wazstagram.backend")

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=20)
RETRY_BACKOFF = (0.2, 5.0)  # first and longest pause while Instagram (or the site's proxy) is not up yet
RADIUS_M = 5000


class RegistrationError(Exception):
    """Instagram refused or could not be reached; the message says which and why."""


class CityRegistrar:
    """Makes sure Instagram holds a subscription for every city. Only worker slot 0 runs it, and the simulator
    treats the same callback + geography as one subscription, so a reload that briefly runs two slot-0 workers
    still ends with one subscription per city."""

    def __init__(self, settings: BackendSettings, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.http = http

    @property
    def _credentials(self) -> dict[str, str]:
        return {"client_id": self.settings.client_id, "client_secret": self.settings.client_secret or ""}

    async def registered_callbacks(self) -> set[str]:
        data = await self._call("GET", params=self._credentials)
        return {item["callback_url"] for item in data}

    async def register(self, city: City) -> str:
        """Create the city's subscription (Instagram calls our handshake meanwhile); returns its id."""
        form = {**self._credentials, "object": "geography", "aspect": "media", "lat": str(city.latitude),
                "lng": str(city.longitude), "radius": str(RADIUS_M), "callback_url": self.settings.callback_url(city.name),
                "verify_token": self.settings.verify_token or ""}
        data = await self._call("POST", data=form)
        log.info("registered %s: subscription %s for geography %s", city.name, data["id"], data["object_id"])
        return str(data["id"])

    async def ensure_registered(self) -> int:
        """Register the cities Instagram does not know yet; returns how many were registered."""
        known = await self.registered_callbacks()
        missing = [city for city in CITIES if self.settings.callback_url(city.name) not in known]
        for city in missing:
            await self.register(city)
        return len(missing)

    async def run(self) -> None:
        """Register at start (retrying until Instagram answers), then check again every register_interval."""
        pause = RETRY_BACKOFF[0]
        while True:
            try:
                await self.ensure_registered()
                pause = RETRY_BACKOFF[0]
                await asyncio.sleep(self.settings.register_interval)
            except RegistrationError as exc:
                log.warning("registering the cities with Instagram failed (retrying in %.1f s): %s", pause, exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_BACKOFF[1])

    async def _call(self, method: str, **kwargs: Any) -> Any:
        url = f"{self.settings.instagram_api}/subscriptions/"
        try:
            async with self.http.request(method, url, timeout=REQUEST_TIMEOUT, **kwargs) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RegistrationError(f"{method} {url}: {exc!r}") from None
        try:
            envelope = json.loads(text)
            meta = envelope["meta"]
        except (ValueError, KeyError, TypeError):
            raise RegistrationError(f"{method} {url}: HTTP {response.status}, not a v1 envelope: {text[:200]!r}") from None
        if meta.get("code") != 200:
            raise RegistrationError(f"{method} {url}: {meta.get('error_type')}: {meta.get('error_message')}")
        return envelope["data"]
