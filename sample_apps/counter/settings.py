"""The counter's settings, read from its environment (the worker contract plus the app's `env` table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from pysupervise.bus import DEFAULT_SESSION_TTL


@dataclass(frozen=True)
class CounterSettings:
    prefix: str = "/counter"  # the app's route in supervisor.toml: the URL reaches the app unchanged
    session_ttl: float = DEFAULT_SESSION_TTL  # one day
    worker: int = 0
    cache_url: str | None = None  # None: $PYSUPERVISE_CACHE, else $PYSUPERVISE_BUS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CounterSettings:
        env = os.environ if environ is None else environ
        return cls(
            prefix="/" + env.get("COUNTER_PREFIX", cls.prefix).strip("/"),
            session_ttl=float(env.get("SESSION_TTL", cls.session_ttl)),
            worker=int(env.get("PYSUPERVISE_WORKER", "0")),
            cache_url=env.get("PYSUPERVISE_CACHE") or env.get("PYSUPERVISE_BUS") or None,
        )
