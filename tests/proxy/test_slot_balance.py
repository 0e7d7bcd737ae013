"""How the fronts' shares of a worker's slots follow the requests that wait (pure arithmetic, no processes)."""

from pysupervise.proxy.fronts.slot_balance import balanced_shares, even_share, safe_shares


def test_with_nothing_waiting_the_slots_are_split_evenly_and_every_front_gets_one():
    assert [even_share(30, i, 2) for i in range(2)] == [15, 15]
    assert [even_share(5, i, 2) for i in range(2)] == [3, 2]
    assert [even_share(1, i, 3) for i in range(3)] == [1, 1, 1]
    assert balanced_shares(30, [3, 0], [0, 0]) == [15, 15]


def test_free_slots_go_where_requests_wait():
    # 17 connections on one front, 13 on the other, all held: the 2 slots the second front left go to the first.
    assert balanced_shares(30, [15, 13], [2, 0]) == [17, 13]
    # Everything busy: nobody gains, nobody loses what it has in flight.
    assert balanced_shares(4, [2, 2], [3, 1]) == [2, 2]
    # Free slots split by what waits, the largest remainder first, never more than are free.
    assert balanced_shares(10, [1, 1, 0], [3, 1, 0]) == [7, 3, 0]
    assert sum(balanced_shares(7, [0, 0, 0], [1, 1, 1])) == 7


def test_stale_levels_that_add_up_to_more_than_the_slots_give_nothing_away():
    assert balanced_shares(4, [3, 3], [1, 0]) == [3, 3]


def test_a_front_grows_only_into_slots_no_front_may_still_be_using():
    # The second front was told to shrink from 15 to 13 but has not confirmed: the first cannot have them yet.
    assert safe_shares(30, [17, 13], [15, 15], [15, 13], [True, False]) == [15, 13]
    # Once it confirms, they move.
    assert safe_shares(30, [17, 13], [15, 13], [15, 13], [True, False]) == [17, 13]
    # A stale level below the share never frees what the share still allows: 2 + 2 stays 4.
    assert safe_shares(4, [4, 0], [2, 2], [2, 0], [True, False]) == [2, 0]
    # The master's own front shrinks at once, so its slots are free for the others in the same step.
    assert safe_shares(4, [0, 4], [2, 2], [0, 2], [True, False]) == [0, 4]
