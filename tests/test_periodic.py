"""Background tasks of the master survive their own errors, log them at most once a minute per kind, and count them."""

from __future__ import annotations

import asyncio
import errno
import logging

from pysupervise.periodic import BackgroundTasks, PeriodicTask, RateLimitedLog, TaskErrors


class Clock:
    """A clock the test moves by hand, so "a minute later" needs no minute."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_kind_per_interval_with_the_count_left_out(caplog):
    clock = Clock()
    log = RateLimitedLog(logging.getLogger("test.ratelimit"), interval=60, clock=clock)
    with caplog.at_level(logging.ERROR, "test.ratelimit"):
        assert log.log("disk", "disk full")
        assert [log.log("disk", "disk full") for _ in range(5)] == [False] * 5
        assert log.log("other", "something else")  # another kind has its own minute
        clock.now += 61
        assert log.log("disk", "disk full")
    assert [r.getMessage() for r in caplog.records] == [
        "disk full", "something else", "disk full (5 more like this in the last 60 s were not logged)"]


def test_a_failing_periodic_task_keeps_running_and_counts_its_errors(caplog):
    errors = TaskErrors(logging.getLogger("test.tasks"), clock=Clock())

    async def scenario() -> int:
        calls = 0
        enough = asyncio.Event()

        def step() -> None:
            nonlocal calls
            calls += 1
            if calls >= 5:
                enough.set()
            raise OSError(errno.ENOSPC, "No space left on device")

        task = PeriodicTask("sweeper", 0.001, step, errors).start()
        await asyncio.wait_for(enough.wait(), 10)
        running = task.running
        task.stop()
        assert running
        return calls

    with caplog.at_level(logging.ERROR, "test.tasks"):
        calls = asyncio.run(scenario())
    assert errors.snapshot()["sweeper"] >= 5 and errors.counts["sweeper"] == calls
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 1 and "sweeper: failed" in logged[0] and "No space left on device" in logged[0]


def test_tasks_show_with_zero_errors_from_their_start_and_one_off_tasks_are_watched():
    errors = TaskErrors(logging.getLogger("test.tasks.watch"))

    async def scenario() -> None:
        PeriodicTask("quiet", 60, lambda: None, errors).start().stop()

        async def broken() -> None:
            raise RuntimeError("a bug in a background task")

        task = asyncio.get_running_loop().create_task(broken())
        errors.watch(task, "one-off")
        await asyncio.wait([task])
        await asyncio.sleep(0)  # done callbacks run on the next loop turn

    asyncio.run(scenario())
    assert errors.snapshot() == {"one-off": 1, "quiet": 0}


def test_background_tasks_report_their_errors_and_are_cancelled_together():
    errors = TaskErrors(logging.getLogger("test.background"), clock=Clock())

    async def scenario() -> tuple[bool, bool]:
        background = BackgroundTasks(errors, "owner")
        forever = background.run(asyncio.Event().wait())

        async def fails() -> None:
            raise RuntimeError("a bug in a one-off task")

        await asyncio.gather(background.run(fails()), return_exceptions=True)
        stopper_survived = asyncio.Event()

        async def stops_its_owner() -> None:
            background.cancel_all()  # from inside one of the owner's own tasks: not cancelled itself
            await asyncio.sleep(0)
            stopper_survived.set()

        await background.run(stops_its_owner())
        await asyncio.gather(forever, return_exceptions=True)
        return forever.cancelled(), stopper_survived.is_set()

    assert asyncio.run(scenario()) == (True, True)
    assert errors.snapshot() == {"owner": 1}
