"""The parking lot's table keeps descriptors, deadlines and parking order right through leaves and re-parks."""

from __future__ import annotations

import math

from pysupervise.proxy.client.parked_table import ParkedTable


def test_oldest_first_and_only_what_is_still_parked():
    table = ParkedTable()
    for fd, deadline in [(7, 10.0), (3, 11.0), (900, 12.0), (5, 13.0)]:
        table.add(fd, deadline)
    table.remove(3)
    assert (3 in table, 900 in table, 4 in table, 10_000 in table) == (False, True, False, False)
    assert list(table.oldest()) == [7, 900, 5]
    table.remove(7)  # woken, then idle again and parked again: now the newest
    table.add(7, 21.0)
    assert list(table.oldest()) == [900, 5, 7]
    assert table.count == 3


def test_expire_returns_what_passed_and_the_next_deadline():
    table = ParkedTable()
    for fd, deadline in [(10, 5.0), (11, 1.0), (12, 9.0), (13, 3.0)]:
        table.add(fd, deadline)
    expired, earliest = table.expire(4.0)
    assert sorted(expired) == [11, 13] and earliest == 5.0
    assert list(table.oldest()) == [10, 12] and table.count == 2
    assert table.expire(100.0) == ([10, 12], math.inf)
    assert table.count == 0 and list(table.oldest()) == []


def test_removing_in_the_loop_over_the_oldest_is_allowed():
    table = ParkedTable()
    for fd in range(20, 30):
        table.add(fd, float(fd))
    for fd in table.oldest():
        if fd % 2:
            table.remove(fd)
    assert list(table.oldest()) == [20, 22, 24, 26, 28]


def test_churn_of_parks_and_wakes_keeps_the_queue_near_the_live_count():
    table = ParkedTable()
    table.add(3, 1.0)  # stays parked throughout
    for round_number in range(10_000):
        fd = 100 + round_number % 50
        table.add(fd, 2.0 + round_number)
        table.remove(fd)  # woken at once: its queue entry goes stale
    assert table.count == 1 and list(table.oldest()) == [3]
    assert len(table._queue_fds) - table._head <= 2 * table.count + 64 + 1
