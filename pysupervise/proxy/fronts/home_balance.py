"""How much of each front's traffic leaves its home workers, so that the workers stay evenly loaded.

Each front sends its requests to its home workers (proxy/dispatcher.py). The kernel spreads connections over the
fronts, not requests: one front may get more of the traffic than its home workers' part of the app (a few busy
keep-alive connections from a load balancer land where their hash puts them; with three workers and two fronts
one front has two home workers, the other one). That front then sends the excess away from home, the fraction
`1 - fair / rate`, where `fair` is its home workers' part of the app's total request rate. Each front smooths its
rates over about a second of its own clock's ticks, so a burst does not flip the fronts back and forth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pysupervise.proxy.backend import AppBackend
    from pysupervise.proxy.fronts.fleet import FrontHandle

# Weight of the newest sample in a smoothed rate (sampled ten times a second: about a second of memory).
_SMOOTHING = 0.3
# Below this many requests per second a rate counts as none (a smoothed rate would otherwise never reach zero).
_RATE_FLOOR = 1.0
# A smaller fraction is not worth the batches it breaks up: the workers are even within that much anyway.
MIN_AWAY = 0.03


class RequestRates:
    """One front's smoothed requests per second per app, from its dispatchers' `picks`, read and reset at each
    tick of that front's own clock (so a report arriving late or early does not read as a change of rate)."""

    def __init__(self) -> None:
        self.rates: dict[str, float] = {}
        self._sampled_at: float | None = None

    def sample(self, backends: Mapping[str, "AppBackend"], now: float) -> dict[str, float]:
        elapsed = now - self._sampled_at if self._sampled_at is not None else 0.0
        self._sampled_at = now
        rates = {}
        for name, backend in backends.items():
            dispatcher = backend.dispatcher
            picks, dispatcher.picks = dispatcher.picks, 0
            rate = self.rates.get(name, 0.0)
            if elapsed > 0:
                rate += _SMOOTHING * (picks / elapsed - rate)
            rates[name] = rate if rate >= _RATE_FLOOR else 0.0
        self.rates = rates
        return rates


def away_fractions(rates: Sequence[float], homes: Sequence[int]) -> list[float]:
    """For each front (its request rate for the app, its number of home workers): the fraction of its requests
    that should go to workers away from home."""
    total_rate = sum(rates)
    workers = sum(homes)
    fractions = []
    for rate, home in zip(rates, homes):
        fair = total_rate * home / workers if workers else 0.0
        # A front with no home worker already chooses among all of them.
        away = 1.0 - fair / rate if home and rate > fair else 0.0
        fractions.append(away if away >= MIN_AWAY else 0.0)
    return fractions


def home_counts(slots: Sequence[int], front_count: int) -> list[int]:
    """How many of an app's workers (by slot number) are each front's home workers (proxy/dispatcher.py)."""
    homes = [0] * front_count
    for slot in slots:
        homes[slot % front_count] += 1
    return homes


class HomeBalance:
    """The master's side: its own front's rates, and per app the fraction of each front's requests sent away from
    home, pushed to the fronts when it changes."""

    def __init__(self, front_count: int) -> None:
        self.front_count = front_count
        self.own_rates = RequestRates()
        # What each front (by index, 1..count-1) was last told, per app; a restarted front starts from nothing.
        self._told: dict[int, dict[str, float]] = {}
        # Per app, as of the last balance: each front's requests per second and the fraction it sends away
        # (`status --json`).
        self.last: dict[str, dict[str, list[float]]] = {}

    def balance(self, backends: Mapping[str, "AppBackend"], fronts: Sequence["FrontHandle"], now: float) -> None:
        own = self.own_rates.sample(backends, now)
        changed: dict[int, dict[str, float]] = {}
        self.last = {}
        for name, backend in backends.items():
            dispatcher = backend.dispatcher
            rates = [own.get(name, 0.0), *(front.levels.request_rates.get(name, 0.0) for front in fronts)]
            homes = home_counts([ep.slot for ep in dispatcher.endpoints if ep.alive], self.front_count)
            # Hundredths: finer changes are noise, and each one would be a message.
            aways = [round(away, 2) for away in away_fractions(rates, homes)]
            dispatcher.away = aways[0]
            self.last[name] = {"requests_per_second": [round(rate) for rate in rates], "sent_away": aways}
            for front, away in zip(fronts, aways[1:]):
                told = self._told.setdefault(front.index, {})
                if told.get(name, 0.0) != away and front.channel is not None:
                    told[name] = away
                    changed.setdefault(front.index, {})[name] = away
        for front in fronts:
            if front.index in changed and front.channel is not None:
                front.channel.send("away", changed[front.index])

    def front_started(self, index: int) -> None:
        self._told.pop(index, None)
