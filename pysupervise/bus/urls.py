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
class ClientOptions:
    """How a client waits on the bus, from the URL's query (``?request_timeout=5&health_check=5``), either backend."""

    # Longest wait for any one answer (a receive() adds the time it asked to wait): past it the
    # call fails with BusUnavailable and the client treats the bus as silent (see outage.py).
    request_timeout: float = 5.0
    # A connection that has carried nothing for this many seconds is pinged; no answer within as
    # many more and it is declared dead (so a partition is noticed in 2x this, not in the
    # kernel's minutes). 0 turns the checks off.
    health_check: float = 5.0


@dataclass(frozen=True)
class EmbeddedAddress:
    socket_path: Path
    url: str
    options: ClientOptions = ClientOptions()


@dataclass(frozen=True)
class RedisAddress:
    redis_url: str  # what redis-py is given: our own query parameters removed
    url: str  # for messages and logs: what the user gave, with any password masked
    max_waiting: int
    options: ClientOptions = ClientOptions()


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
    # Our own query parameters are taken out here: redis-py would reject them as unknown
    # connection arguments, and the embedded broker's URL has no others.
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = _options(url, query)
    kept = [(key, value) for key, value in query if key not in _OPTION_NAMES]
    if parts.scheme == EMBEDDED_SCHEME:
        if parts.netloc or not parts.path.startswith("/"):
            raise BusConfigError(
                f"bus URL {url!r}: an embedded bus URL is '{EMBEDDED_SCHEME}://' followed by the socket's "
                f"absolute path, e.g. '{EMBEDDED_SCHEME}:///srv/app/.pysupervise/run/bus.sock'"
            )
        unknown = [key for key, _ in query if key not in _CLIENT_OPTIONS]
        if unknown:
            raise BusConfigError(
                f"bus URL {url!r}: unknown query parameter {unknown[0]!r}; an embedded bus URL takes only "
                f"{' and '.join(sorted(_CLIENT_OPTIONS))} (its max_waiting is [services] max_waiting)"
            )
        return EmbeddedAddress(Path(unquote(parts.path)), url, options)
    if parts.scheme in REDIS_SCHEMES:
        # max_waiting is the per-subscription bound the publisher enforces (the embedded
        # broker's is [services] max_waiting, set in the master).
        max_waiting = DEFAULT_MAX_WAITING
        for key, value in query:
            if key == "max_waiting":
                try:
                    max_waiting = int(value)
                except ValueError:
                    raise BusConfigError(f"bus URL {url!r}: max_waiting must be an integer, not {value!r}") from None
                if max_waiting < 1:
                    raise BusConfigError(f"bus URL {url!r}: max_waiting must be at least 1")
        redis_url = urlunsplit(parts._replace(query=urlencode(kept)))
        shown = url
        if parts.password:
            userinfo, _, host = parts.netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            shown = urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
        return RedisAddress(redis_url, shown, max_waiting, options)
    raise BusConfigError(
        f"bus URL {url!r}: unknown scheme {parts.scheme!r}; use '{EMBEDDED_SCHEME}:///abs/path/bus.sock' "
        f"for the broker inside the pysupervise master, or redis://, rediss:// or unix:// for Redis"
    )


_CLIENT_OPTIONS = {"request_timeout", "health_check"}
_OPTION_NAMES = _CLIENT_OPTIONS | {"max_waiting"}


def _options(url: str, query: list[tuple[str, str]]) -> ClientOptions:
    seconds: dict[str, float] = {}
    for key, value in query:
        if key not in _CLIENT_OPTIONS:
            continue
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        smallest = 0.0 if key == "health_check" else 0.001
        if not number >= smallest or number == float("inf"):
            raise BusConfigError(
                f"bus URL {url!r}: {key} must be a number of seconds"
                f"{' (0: off)' if key == 'health_check' else ' above 0'}, not {value!r}"
            )
        seconds[key] = number
    return ClientOptions(**seconds)
