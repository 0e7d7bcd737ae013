"""How much of each front's traffic leaves its home workers, so that the workers stay evenly loaded.

Each front sends its requests to its home workers (proxy/dispatcher.py). The kernel spreads connections over the
fronts, not requests: one front may get more of the traffic than its home workers' part of the app (a few busy
keep-alive connections from a load balancer land where their hash puts them; with three workers and two fronts
one front has two home workers, the other one). That front then sends the excess away from home, the fraction
`1 - fair / rate`, where `fair` is its home workers' part of the app's total request rate. Each front smooths its
rates over about a second of its own clock's ticks, so a burst does not flip the fronts back and forth.

Rates do not see requests that stay long: long polls, server-sent events, a slow endpoint a client keeps calling.
They pile onto the home workers of the front their connections came through while the other workers sit idle,
and that front's other clients wait behind them. So the master also smooths each worker's requests in flight
(every front's), and a front whose home workers hold clearly more than the others sends more away (`HeldLevels`),
as a least-busy choice among all the workers would have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pysupervise.proxy.backend import AppBackend
    from pysupervise.proxy.endpoint import Endpoint
    from pysupervise.proxy.fronts.fleet import FrontHandle

# Weight of the newest sample in a smoothed rate (sampled ten times a second: about a second of memory).
_SMOOTHING = 0.3
# Below this many requests per second a rate counts as none (a smoothed rate would otherwise never reach zero).
_RATE_FLOOR = 1.0
# A smaller fraction is not worth the batches it breaks up: the workers are even within that much anyway.
MIN_AWAY = 0.03
# Weight of the newest in-flight sample in a worker's smoothed level: about two seconds of memory. Under
# saturating hello-world load one worker's requests in flight swing between a third and twice the other's for a
# fraction of a second at a time; requests that are held stay for good.
_LEVEL_SMOOTHING = 0.05
# Home workers count as loaded when their smoothed requests in flight pass the others' by this factor and this
# many more.
_LOADED_FACTOR = 1.5
_LOADED_MARGIN = 4.0
# How fast a loaded front's extra away fraction grows (per tick of the master's 0.1 s check: all of its requests
# within a second), and how fast it falls back while they are not loaded. With requests held for good it settles
# where sending more away would leave the home workers no longer loaded.
_HELD_STEP_UP = 0.1
_HELD_STEP_DOWN = 0.05


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


class HeldLevels:
    """Per app, each worker's smoothed requests in flight from every front, and the extra fraction each front sends
    away while its home workers hold clearly more than the others (by slot number: a new generation takes over
    its slot's level)."""

    def __init__(self, front_count: int) -> None:
        self.front_count = front_count
        self.levels: dict[str, dict[int, float]] = {}
        self._extra: dict[str, list[float]] = {}

    def update(self, name: str, endpoints: Sequence["Endpoint"]) -> list[float]:
        """One tick: sample the app's live workers and return each front's extra away fraction."""
        before = self.levels.get(name, {})
        levels: dict[int, float] = {}
        for endpoint in endpoints:
            held = endpoint.in_flight + endpoint.in_flight_elsewhere
            level = before.get(endpoint.slot)
            levels[endpoint.slot] = held if level is None else level + _LEVEL_SMOOTHING * (held - level)
        self.levels[name] = levels
        extra = self._extra.get(name) or [0.0] * self.front_count
        for index in range(self.front_count):
            home = [level for slot, level in levels.items() if slot % self.front_count == index]
            others = [level for slot, level in levels.items() if slot % self.front_count != index]
            if not home or not others:
                extra[index] = 0.0  # nowhere to send it, or the front already chooses among all
                continue
            home_level, other_level = sum(home) / len(home), sum(others) / len(others)
            if home_level > _LOADED_FACTOR * other_level + _LOADED_MARGIN:
                extra[index] = round(min(1.0, extra[index] + _HELD_STEP_UP), 2)
            else:
                extra[index] = round(max(0.0, extra[index] - _HELD_STEP_DOWN), 2)
        self._extra[name] = extra
        return list(extra)

    def forget_others(self, names: set[str]) -> None:
        for name in [name for name in self.levels if name not in names]:
            del self.levels[name]
            self._extra.pop(name, None)


class HomeBalance:
    """The master's side: its own front's rates, and per app the fraction of each front's requests sent away from
    home, pushed to the fronts when it changes."""

    def __init__(self, front_count: int) -> None:
        self.front_count = front_count
        self.own_rates = RequestRates()
        self.held = HeldLevels(front_count)
        # What each front (by index, 1..count-1) was last told, per app; a restarted front starts from nothing.
        self._told: dict[int, dict[str, float]] = {}
        # Per app, as of the last balance: each front's requests per second and the fraction it sends away
        # (`status --json`).
        self.last: dict[str, dict[str, Any]] = {}

    def balance(self, backends: Mapping[str, "AppBackend"], fronts: Sequence["FrontHandle"], now: float) -> None:
        own = self.own_rates.sample(backends, now)
        changed: dict[int, dict[str, float]] = {}
        self.last = {}
        for name, backend in backends.items():
            dispatcher = backend.dispatcher
            rates = [own.get(name, 0.0), *(front.levels.request_rates.get(name, 0.0) for front in fronts)]
            live = [ep for ep in dispatcher.endpoints if ep.alive]
            homes = home_counts([ep.slot for ep in live], self.front_count)
            extra = self.held.update(name, live)
            # Hundredths: finer changes are noise, and each one would be a message.
            aways = [round(min(1.0, away + more), 2) for away, more in zip(away_fractions(rates, homes), extra)]
            dispatcher.away = aways[0]
            self.last[name] = {"requests_per_second": [round(rate) for rate in rates], "sent_away": aways,
                               "in_flight_by_slot": {str(slot): round(level, 1)
                                                     for slot, level in sorted(self.held.levels[name].items())}}
            for front, away in zip(fronts, aways[1:]):
                told = self._told.setdefault(front.index, {})
                if told.get(name, 0.0) != away and front.channel is not None:
                    told[name] = away
                    changed.setdefault(front.index, {})[name] = away
        self.held.forget_others(set(backends))
        for front in fronts:
            if front.index in changed and front.channel is not None:
                front.channel.send("away", changed[front.index])

    def front_started(self, index: int) -> None:
        self._told.pop(index, None)
