"""With several front processes, each sends its requests to its home workers, and the master tells a front that
gets more than its part of an app's traffic which fraction to send away (proxy/dispatcher.py,
proxy/fronts/home_balance.py). The dispatcher runs on its real Endpoints; the rates are plain arithmetic."""

from __future__ import annotations

import asyncio
from collections import Counter
from types import SimpleNamespace

import pytest

from pysupervise.proxy.backend import AppBackend
from pysupervise.proxy.dispatcher import Dispatcher
from pysupervise.proxy.endpoint import Endpoint
from pysupervise.proxy.fronts.home_balance import (MIN_AWAY, HeldLevels, RequestRates, away_fractions,
                                                   home_counts)
from pysupervise.proxy.request import ProxyRequest


def request(websocket: bool = False, started: float = 0.0) -> SimpleNamespace:
    """What the dispatcher reads of an exchange it hands a slot to (or queues): its request, and the time."""
    proxy_request = ProxyRequest("127.0.0.1", started)
    proxy_request.wants_upgrade = websocket
    return SimpleNamespace(request=proxy_request, now=lambda: started)


def dispatcher_of(workers: int, capacity: int, front_index: int, front_count: int) -> Dispatcher:
    dispatcher = Dispatcher("app", 100, 10.0)
    dispatcher.set_endpoints([Endpoint(f"app#{slot}", f"/run/app/1-{slot}.sock", capacity, slot=slot)
                              for slot in range(workers)])
    dispatcher.front_index, dispatcher.front_count = front_index, front_count
    return dispatcher


def slots_chosen(dispatcher: Dispatcher, count: int, release: bool = True, websocket: bool = False,
                 started: float = 0.0) -> list[int]:
    chosen = []
    for _ in range(count):
        endpoint = dispatcher.acquire(request(websocket, started))
        assert endpoint is not None
        chosen.append(endpoint.slot)
        if release:
            dispatcher.release(endpoint)
    return chosen


def run(scenario):
    async def inside_a_loop():  # an Endpoint belongs to the running loop
        return scenario()
    return asyncio.run(inside_a_loop())


def test_a_front_sends_to_its_home_workers_and_away_only_when_they_are_full():
    def scenario():
        # Front 1 of 2, four workers: slots 1 and 3 are its home.
        dispatcher = dispatcher_of(4, capacity=3, front_index=1, front_count=2)
        held = slots_chosen(dispatcher, 6, release=False)
        assert sorted(held) == [1, 1, 1, 3, 3, 3]  # the least busy of its home workers, until both are full
        assert sorted(slots_chosen(dispatcher, 6, release=False)) == [0, 0, 0, 2, 2, 2]
        assert dispatcher.acquire(request()) is None and len(dispatcher.queue) == 1
        assert dispatcher.picks == 12
    run(scenario)


def test_the_away_fraction_sends_that_share_of_requests_away_from_home():
    def scenario():
        dispatcher = dispatcher_of(2, capacity=10, front_index=0, front_count=2)
        assert Counter(slots_chosen(dispatcher, 100)) == {0: 100}
        dispatcher.away = 0.25
        assert Counter(slots_chosen(dispatcher, 100)) == {0: 75, 1: 25}
    run(scenario)


def test_a_turn_to_go_away_is_skipped_when_the_worker_away_is_busier_or_stuck():
    def scenario():
        dispatcher = dispatcher_of(2, capacity=10, front_index=0, front_count=2)
        dispatcher.away = 0.5
        away = dispatcher.endpoints[1]
        away.in_flight_elsewhere = 1  # another front's request there (a long one, for all the rates know)
        assert Counter(slots_chosen(dispatcher, 100)) == {0: 100}
        away.in_flight_elsewhere = 0
        away.in_flight = 1
        away.request_sent(0.0)  # this front's request there, unanswered for a second: stuck
        dispatcher.endpoints[0].in_flight = 1  # as busy as home, so only its being stuck keeps requests home
        assert Counter(slots_chosen(dispatcher, 100, started=1.0)) == {0: 100}
        away.request_answered(1.0, answered=True)
        assert Counter(slots_chosen(dispatcher, 100, started=1.0)) == {0: 50, 1: 50}
    run(scenario)


def test_websockets_go_to_the_least_busy_worker_of_all():
    def scenario():
        dispatcher = dispatcher_of(2, capacity=10, front_index=0, front_count=2)
        assert sorted(slots_chosen(dispatcher, 6, release=False, websocket=True)) == [0, 0, 0, 1, 1, 1]
    run(scenario)


def test_a_front_without_a_home_worker_and_a_single_front_choose_among_all():
    def scenario():
        lone = dispatcher_of(1, capacity=10, front_index=1, front_count=2)
        assert set(slots_chosen(lone, 4)) == {0}
        single = dispatcher_of(2, capacity=10, front_index=0, front_count=1)
        assert Counter(slots_chosen(single, 10)) == {0: 5, 1: 5}  # equally idle workers take turns
    run(scenario)


def test_a_retry_avoids_the_worker_that_failed_even_at_home():
    def scenario():
        dispatcher = dispatcher_of(2, capacity=10, front_index=0, front_count=2)
        home = dispatcher.endpoints[0]
        assert dispatcher.acquire(request(), avoid=home).slot == 1
        dispatcher.endpoints[1].capacity = 1  # now full: the avoided worker is the only one with room
        assert dispatcher.acquire(request(), avoid=home) is home
    run(scenario)


def test_a_home_worker_that_has_answered_nothing_for_a_while_is_passed_over():
    def scenario():
        dispatcher = dispatcher_of(2, capacity=10, front_index=0, front_count=2)
        home = dispatcher.endpoints[0]
        home.in_flight = 1
        home.request_sent(10.0)  # a request of this front, unanswered since 10.0 (a blocked loop, a slow handler)
        assert dispatcher.acquire(request(started=10.01)) is home  # a moment: still home
        other = dispatcher.acquire(request(started=10.03))  # past stuck_after (0.02 s): the less busy one
        assert other.slot == 1 and dispatcher.acquire(request(started=10.04)).slot == 1
        # Once the other one is as busy, a stuck home is as good as any: home.
        other.in_flight = home.in_flight
        assert dispatcher.acquire(request(started=10.05)) is home
        other.in_flight = 0
        home.request_answered(10.35, answered=True)  # it answered one: home again
        assert dispatcher.acquire(request(started=10.4)) is home
        # Stuck or not, a home worker is the only choice when no other has room.
        home.request_sent(10.5)
        dispatcher.endpoints[1].capacity = dispatcher.endpoints[1].in_flight
        assert dispatcher.acquire(request(started=11.0)) is home
    run(scenario)


def test_fronts_with_their_part_of_the_traffic_send_nothing_away():
    assert away_fractions([1000.0, 1000.0], [1, 1]) == [0.0, 0.0]
    assert away_fractions([2000.0, 1000.0], [2, 1]) == [0.0, 0.0]  # three workers: two of them at home in front 0
    assert away_fractions([0.0, 0.0], [1, 1]) == [0.0, 0.0]


def test_a_front_with_more_than_its_part_sends_the_excess_away():
    # The kernel gave one front 36 of 64 busy connections: it sends 1 - 32/36 away, the other none.
    heavy, light = away_fractions([3600.0, 2800.0], [1, 1])
    assert heavy == pytest.approx(1 - 3200 / 3600) and light == 0.0
    # One connection, on one front: half of it goes to the other front's worker.
    assert away_fractions([500.0, 0.0], [1, 1]) == [0.5, 0.0]
    # Three workers, even traffic: the front with one home worker sends a third away.
    assert away_fractions([1000.0, 1000.0], [2, 1]) == pytest.approx([0.0, 1 / 3])
    # A front without a home worker chooses among all anyway; an imbalance below MIN_AWAY is left alone.
    assert away_fractions([1000.0, 1000.0], [2, 0]) == [0.0, 0.0]
    assert away_fractions([1000.0, 1000.0 * (1 + MIN_AWAY / 2)], [1, 1]) == [0.0, 0.0]


def test_home_workers_are_the_slots_whose_number_modulo_the_fronts_is_the_fronts_index():
    assert home_counts([0, 1, 2], 2) == [2, 1]
    assert home_counts([0], 3) == [1, 0, 0]


def test_request_rates_are_smoothed_per_second_of_the_fronts_own_clock_and_fall_to_zero():
    def scenario():
        backend = AppBackend("app", queue_limit=10, queue_timeout=1.0, upstream_timeout=10.0)
        rates = RequestRates()
        assert rates.sample({"app": backend}, 0.0) == {"app": 0.0}
        backend.dispatcher.picks = 100
        first = rates.sample({"app": backend}, 0.1)["app"]
        assert 0 < first < 1000 and backend.dispatcher.picks == 0  # taken and reset
        for tick in range(2, 40):
            backend.dispatcher.picks = 100
            rate = rates.sample({"app": backend}, tick / 10)["app"]
        assert rate == pytest.approx(1000, rel=0.01)
        for tick in range(40, 100):
            rate = rates.sample({"app": backend}, tick / 10)["app"]
        assert rate == 0.0
        assert rates.sample({}, 10.0) == {}  # a removed app is forgotten
    run(scenario)


def test_a_front_whose_home_worker_holds_more_than_the_others_sends_more_away_and_comes_back_when_even():
    def scenario():
        endpoints = dispatcher_of(2, capacity=50, front_index=0, front_count=2).endpoints
        held = HeldLevels(front_count=2)
        endpoints[0].in_flight, endpoints[1].in_flight = 3, 2  # even enough: requests come and go
        assert [held.update("app", endpoints) for _ in range(20)][-1] == [0.0, 0.0]
        # Ten requests that stay on front 0's home worker (another front's count there weighs the same).
        endpoints[0].in_flight, endpoints[0].in_flight_elsewhere = 8, 4
        extras = [held.update("app", endpoints)[0] for _ in range(40)]
        # Once the smoothed level shows it (about a second), a tenth more each tick.
        assert extras == sorted(extras) and extras[-1] == 1.0 and extras.index(1.0) <= 25
        # Front 0's requests go to worker 1 now; once it holds as many, the extra falls back, more slowly than it
        # rose.
        endpoints[1].in_flight = 12
        extras = [held.update("app", endpoints)[0] for _ in range(80)]
        assert extras == sorted(extras, reverse=True) and extras[-1] == 0.0 and extras.index(0.0) > 20
        assert held.levels["app"] == {0: pytest.approx(12, abs=0.5), 1: pytest.approx(12, abs=0.5)}
    run(scenario)


def test_held_levels_count_home_workers_by_slot_and_forget_removed_apps():
    def scenario():
        # Three workers, two fronts: front 0's home is slots 0 and 2, front 1's slot 1.
        endpoints = dispatcher_of(3, capacity=50, front_index=0, front_count=2).endpoints
        held = HeldLevels(front_count=2)
        endpoints[1].in_flight = 10
        assert [held.update("app", endpoints) for _ in range(10)][-1] == [0.0, 1.0]
        # One worker for two fronts: front 1 has no home, and front 0 nowhere else to send to.
        assert held.update("app", endpoints[:1]) == [0.0, 0.0]
        held.forget_others(set())
        assert held.levels == {}
    run(scenario)
