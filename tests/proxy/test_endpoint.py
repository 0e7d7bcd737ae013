"""An Endpoint (a worker as the proxy sees it) on a real event loop: what it keeps, and for how long."""

from __future__ import annotations

import asyncio
import gc
import weakref

from pysupervise.proxy.endpoint import Endpoint


class Answer:
    """Stands in for an exchange whose 502 waits for its worker's exit to be seen (or a timeout)."""

    calls = 0

    def __call__(self) -> None:
        Answer.calls += 1


def test_a_502_waiting_for_a_worker_that_stays_alive_is_not_kept_after_its_timeout():
    # The fuzz run found it: a worker that drops connections but never exits kept every waiting 502's
    # exchange (client connection, parser, buffers) for its whole life, 20 MiB per 100 000 inputs.
    async def scenario() -> tuple[Endpoint, list[weakref.ref]]:
        endpoint = Endpoint("app/1/0", "/nonexistent.sock", capacity=1)
        answers = [Answer() for _ in range(50)]
        for answer in answers:
            endpoint.call_when_retired(answer, timeout=0.01)
        refs = [weakref.ref(answer) for answer in answers]
        del answers
        deadline = asyncio.get_running_loop().time() + 10
        while Answer.calls < 50 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        return endpoint, refs

    endpoint, refs = asyncio.run(scenario())  # the worker stays alive: the endpoint lives on
    gc.collect()
    assert Answer.calls == 50 and endpoint.alive
    assert [ref for ref in refs if ref() is not None] == []
