"""Each front's share of a worker's slots, moved to where requests wait.

An even split alone strands slots: the kernel spreads connections, not requests, so one front may queue
requests while another leaves its share of the same worker idle (30 long requests for a 30-thread worker, 17
of them on one front, would wait forever for the 2 slots the other front holds). So while any front has
requests waiting for an app, the worker's free slots go to the fronts in proportion to what waits there;
with no queue anywhere the split is even again."""

from __future__ import annotations


def even_share(slots: int, index: int, count: int) -> int:
    """Front `index`'s share when nothing waits: an even split, at least one each (a worker with fewer slots
    than there are fronts takes one request from each; its runtime queues the rest)."""
    return max(1, slots // count + (1 if index < slots % count else 0))


def balanced_shares(slots: int, in_flight: list[int], queued: list[int]) -> list[int]:
    """Each front's share: even while no front has requests waiting; otherwise what each has in flight, plus
    the free slots split by how many requests wait in each (largest remainder first)."""
    count = len(in_flight)
    waiting = sum(queued)
    if not waiting:
        return [even_share(slots, index, count) for index in range(count)]
    free = max(0, slots - sum(in_flight))
    exact = [free * q / waiting for q in queued]
    extra = [int(part) for part in exact]
    by_remainder = sorted(range(count), key=lambda index: exact[index] - extra[index], reverse=True)
    for index in by_remainder[:free - sum(extra)]:
        extra[index] += 1
    return [held + more for held, more in zip(in_flight, extra)]


def safe_shares(slots: int, targets: list[int], caps: list[int], in_flight: list[int],
                confirmed_at_once: list[bool]) -> list[int]:
    """The shares to send now on the way to `targets`, never promising a slot that a front may still be using.

    `caps[f]`: the most front f may be using now: its share, or its old one while a smaller one is not yet
    confirmed (`confirmed_at_once[f]`: the master's own front, which applies a share as it is set). Shrinks go out
    at once; a front grows only into slots that no front can be using meanwhile, so a reported level that is a
    moment old never lets the fronts together send a worker more than its slots."""
    holding = [max(in_flight[f], targets[f] if targets[f] < caps[f] and confirmed_at_once[f] else caps[f])
               for f in range(len(targets))]
    room = slots - sum(holding)
    granted = []
    for f, (target, cap) in enumerate(zip(targets, caps)):
        if target <= cap:
            granted.append(target)
            continue
        grow = max(0, min(target - cap, room))
        room -= grow
        granted.append(cap + grow)
    return granted
