"""Turning a bus/cache URL (given, or from PYSUPERVISE_BUS / PYSUPERVISE_CACHE) into a backend address."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from .errors import BusConfigError

EMBEDDED_SCHEME = "pysupervise+unix"
REDIS_SCHEMES = ("redis", "rediss", "unix")
BUS_ENV = "PYSUPERVISE_BUS"
CACHE_ENV = "PYSUPERVISE_CACHE"
DEFAULT_MAX_WAITING = 10_000


@dataclass(frozen=True)
class EmbeddedAddress:
    socket_path: Path
    url: str


@dataclass(frozen=True)
class RedisAddress:
    redis_url: str  # what redis-py is given: our own query parameters removed
    url: str  # for messages and logs: what the user gave, with any password masked
    max_waiting: int


Address = EmbeddedAddress | RedisAddress


def embedded_url(socket_path: Path) -> str:
    """The URL workers use to reach an EmbeddedBroker listening on socket_path."""
    return f"{EMBEDDED_SCHEME}://{quote(str(Path(socket_path).absolute()))}"


def bus_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    url = environ.get(BUS_ENV)
    if not url:
        raise BusConfigError(
            f"{BUS_ENV} is not set: run the app under pysupervise, or pass a URL such as "
            f"'{EMBEDDED_SCHEME}:///path/to/run/bus.sock' or 'redis://127.0.0.1:6379/0'"
        )
    return url


def cache_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    url = environ.get(CACHE_ENV) or environ.get(BUS_ENV)
    if not url:
        raise BusConfigError(
            f"neither {CACHE_ENV} nor {BUS_ENV} is set: run the app under pysupervise, or pass a URL such as "
            f"'{EMBEDDED_SCHEME}:///path/to/run/bus.sock' or 'redis://127.0.0.1:6379/0'"
        )
    return url


def parse_url(url: str) -> Address:
    parts = urlsplit(url)
    if parts.scheme == EMBEDDED_SCHEME:
        if parts.netloc or not parts.path.startswith("/"):
            raise BusConfigError(
                f"bus URL {url!r}: an embedded bus URL is '{EMBEDDED_SCHEME}://' followed by the socket's "
                f"absolute path, e.g. '{EMBEDDED_SCHEME}:///srv/app/.pysupervise/run/bus.sock'"
            )
        return EmbeddedAddress(Path(unquote(parts.path)), url)
    if parts.scheme in REDIS_SCHEMES:
        # max_waiting is ours (the per-subscription bound the publisher enforces); redis-py
        # would reject it as an unknown connection argument, so it is taken out here.
        query = parse_qsl(parts.query, keep_blank_values=True)
        max_waiting = DEFAULT_MAX_WAITING
        kept = []
        for key, value in query:
            if key == "max_waiting":
                try:
                    max_waiting = int(value)
                except ValueError:
                    raise BusConfigError(f"bus URL {url!r}: max_waiting must be an integer, not {value!r}") from None
                if max_waiting < 1:
                    raise BusConfigError(f"bus URL {url!r}: max_waiting must be at least 1")
            else:
                kept.append((key, value))
        redis_url = urlunsplit(parts._replace(query=urlencode(kept)))
        shown = url
        if parts.password:
            userinfo, _, host = parts.netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            shown = urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
        return RedisAddress(redis_url, shown, max_waiting)
    raise BusConfigError(
        f"bus URL {url!r}: unknown scheme {parts.scheme!r}; use '{EMBEDDED_SCHEME}:///abs/path/bus.sock' "
        f"for the broker inside the pysupervise master, or redis://, rediss:// or unix:// for Redis"
    )
