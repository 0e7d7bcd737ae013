"""The frontend's settings, read from its environment (the worker contract plus the app's `env` table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class FrontendSettings:
    topic: str = "wazages"
    cache_size: int = 150  # pictures messages kept per city (and for the universe)
    receive_wait: float = 5.0  # seconds one receive waits on the topic
    retry_pause: float = 1.0  # seconds before receiving again after an error
    worker: int = 0
    bus_url: str | None = None  # None: $PYSUPERVISE_BUS
    # A site running the Instagram simulator (e.g. http://10.0.0.1:8080), for the /media/… requests that reach
    # this frontend on a host without one. None: answered 404 (on one site the simulator gets them itself).
    media_origin: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FrontendSettings:
        env = os.environ if environ is None else environ
        media_origin = env.get("MEDIA_ORIGIN", "").rstrip("/") or None
        if media_origin is not None and not media_origin.startswith(("http://", "https://")):
            raise ValueError(f"MEDIA_ORIGIN must be an http(s) address such as http://10.0.0.1:8080, not {media_origin!r}")
        return cls(
            cache_size=int(env.get("CITY_CACHE", cls.cache_size)),
            receive_wait=float(env.get("RECEIVE_WAIT", cls.receive_wait)),
            retry_pause=float(env.get("RECEIVE_RETRY", cls.retry_pause)),
            worker=int(env.get("PYSUPERVISE_WORKER", "0")),
            bus_url=env.get("PYSUPERVISE_BUS") or None,
            media_origin=media_origin,
        )
