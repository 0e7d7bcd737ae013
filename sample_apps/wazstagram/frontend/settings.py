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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FrontendSettings:
        env = os.environ if environ is None else environ
        return cls(
            cache_size=int(env.get("CITY_CACHE", cls.cache_size)),
            receive_wait=float(env.get("RECEIVE_WAIT", cls.receive_wait)),
            retry_pause=float(env.get("RECEIVE_RETRY", cls.retry_pause)),
            worker=int(env.get("PYSUPERVISE_WORKER", "0")),
            bus_url=env.get("PYSUPERVISE_BUS") or None,
        )
