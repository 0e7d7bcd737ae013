"""RequestRates: the request rate between snapshots of requests_total, on a clock the test moves."""

from __future__ import annotations

from pysupervise.admin.status_pages import RequestRates


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_is_the_growth_over_the_window_and_says_how_long_it_was_measured():
    clock = Clock()
    rates = RequestRates(window=10.0, clock=clock)
    assert rates.observe("web", 100) is None  # one snapshot is no rate
    clock.now += 2
    rate = rates.observe("web", 120)
    assert (rate.per_second, rate.seconds) == (10.0, 2.0)
    total = 120
    for _ in range(20):  # then a steady 5 req/s for 20 s: only the last 10 s count
        clock.now += 1
        total += 5
        rate = rates.observe("web", total)
    assert rate.seconds == 10.0 and rate.per_second == 5.0


def test_a_counter_that_starts_over_starts_a_new_measurement():
    clock = Clock()
    rates = RequestRates(window=10.0, clock=clock)
    rates.observe("web", 500)
    clock.now += 1
    assert rates.observe("web", 3) is None  # the app was removed and added again
    clock.now += 1
    assert rates.observe("web", 13).per_second == 10.0
    rates.forget_others(["other"])
    assert rates.observe("web", 20) is None
