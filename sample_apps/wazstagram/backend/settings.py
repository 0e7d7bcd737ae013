"""The backend's settings, read from its environment (the worker contract plus the app's `env` table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from sample_apps.wazstagram.demo import DEMO_CLIENT_ID


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class BackendSettings:
    instagram_api: str  # e.g. http://127.0.0.1:8080/v1
    public_url: str  # this site's address, for the callback URLs given to Instagram
    client_id: str = DEMO_CLIENT_ID
    client_secret: str | None = None  # set: notifications must carry a valid X-Hub-Signature
    verify_token: str | None = None  # set: the handshake must present it
    topic: str = "wazages"
    cleanup_interval: float = 60.0
    cleanup_max_waiting: int = 100  # a subscription with MORE waiting messages than this is deleted
    register: bool = True  # register the eight cities with Instagram (worker slot 0 only)
    register_interval: float = 10.0  # how often slot 0 checks its registrations are still there (a reloaded simulator forgets them)
    worker: int = 0
    bus_url: str | None = None  # None: $PYSUPERVISE_BUS
    cache_url: str | None = None  # None: $PYSUPERVISE_CACHE, else $PYSUPERVISE_BUS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BackendSettings:
        env = os.environ if environ is None else environ
        public_url = (env.get("PUBLIC_URL") or env.get("PYSUPERVISE_URL") or "").rstrip("/")
        instagram_api = (env.get("INSTAGRAM_API") or (f"{public_url}/v1" if public_url else "")).rstrip("/")
        if not public_url or not instagram_api:
            raise SettingsError("the backend needs its public address: run it under pysupervise (PYSUPERVISE_URL), "
                                "or set PUBLIC_URL and INSTAGRAM_API (e.g. http://127.0.0.1:8082/v1)")
        try:
            return cls(
                instagram_api=instagram_api,
                public_url=public_url,
                client_id=env.get("INSTAGRAM_CLIENT_ID") or DEMO_CLIENT_ID,
                client_secret=env.get("INSTAGRAM_CLIENT_SECRET") or None,
                verify_token=env.get("VERIFY_TOKEN") or None,
                cleanup_interval=float(env.get("CLEANUP_INTERVAL", cls.cleanup_interval)),
                cleanup_max_waiting=int(env.get("CLEANUP_MAX_WAITING", cls.cleanup_max_waiting)),
                register=env.get("REGISTER_CITIES", "1") not in ("0", "false", "no"),
                register_interval=float(env.get("REGISTER_INTERVAL", cls.register_interval)),
                worker=int(env.get("PYSUPERVISE_WORKER", "0")),
                bus_url=env.get("PYSUPERVISE_BUS") or None,
                cache_url=env.get("PYSUPERVISE_CACHE") or env.get("PYSUPERVISE_BUS") or None,
            )
        except ValueError as exc:
            raise SettingsError(f"backend settings: {exc} (CLEANUP_INTERVAL, CLEANUP_MAX_WAITING, REGISTER_INTERVAL "
                                "and PYSUPERVISE_WORKER are numbers)") from None

    def callback_url(self, city: str) -> str:
        return f"{self.public_url}/newimage/{city}"
