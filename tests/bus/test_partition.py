"""A network partition between a client and the bus (issue 17): a FreezableRelay in the middle plays
`iptables -j DROP` both ways, without root. Every test runs against the embedded broker and Redis.

The clients behind the relay use ?health_check=0.5&request_timeout=1, so a partition is noticed in
about a second instead of the kernel's minutes; the test's publisher talks to the server directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import AsyncIterator

import psutil
import pytest

from pysupervise import bus
from pysupervise.bus.broker import EmbeddedBroker
from tests.bus.relay import FreezableRelay
from tests.bus.servers import eventually, redis_blocked_clients, short_tempdir

OPTIONS = "health_check=0.5&request_timeout=1"
DEADLINE = 5.0  # "fails fast": several request_timeouts, far below the 30 s a call used to hang
RECOVERY = 15.0  # after thaw: the longest resubscribe backoff is 2 s, plus a probe


class Partition:
    """A bus server, a relay in front of it, and the two URLs: through the relay, and direct."""

    def __init__(self, kind: str, redis) -> None:  # type: ignore[no-untyped-def]
        self.kind = kind
        self.redis = redis
        self.dir = short_tempdir()
        self.broker: EmbeddedBroker | None = None
        self.relay: FreezableRelay | None = None
        self.direct_url = self.relayed_url = ""
        self.clients: list[bus.BusClient | bus.CacheClient] = []

    async def start(self) -> Partition:
        if self.redis is not None:
            self.relay = FreezableRelay(("127.0.0.1", self.redis.port)).start()
            self.direct_url = self.redis.url
            self.relayed_url = f"redis://127.0.0.1:{self.relay.port}/0?{OPTIONS}"
        else:
            self.broker = EmbeddedBroker(self.dir / "bus.sock")
            await self.broker.start()
            self.relay = FreezableRelay(self.broker.socket_path, listen_path=self.dir / "relay.sock").start()
            self.direct_url = self.broker.url
            self.relayed_url = f"{bus.embedded_url(self.dir / 'relay.sock')}?{OPTIONS}"
        return self

    def parked_receives(self) -> int:
        if self.redis is not None:
            return redis_blocked_clients(self.redis.port)
        assert self.broker is not None
        return sum(s["receivers"] for subs in self.broker.stats()["subscriptions"].values() for s in subs.values())

    async def client(self, url: str) -> bus.BusClient:
        client = await bus.connect(url)
        self.clients.append(client)
        return client

    async def cache(self, url: str) -> bus.CacheClient:
        cache = await bus.connect_cache(url)
        self.clients.append(cache)
        return cache

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        if self.relay is not None:
            self.relay.close()
        if self.broker is not None:
            await self.broker.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(params=["embedded", "redis"])
async def partition(request: pytest.FixtureRequest) -> AsyncIterator[Partition]:
    redis = None
    if request.param == "redis":
        redis = request.getfixturevalue("redis_server")
        redis.flush()
    server = Partition(request.param, redis)
    try:
        yield await server.start()
    finally:
        await server.close()


class SubscriberProcess:
    """tests/bus/partition_subscriber.py in a child process; its JSON events collected by a thread."""

    def __init__(self, url: str, channel: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bus.partition_subscriber", url, channel],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).resolve().parents[2],
            env={**os.environ},
        )
        self.events: list[dict] = []
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def seen(self, event: str) -> list[dict]:
        return [e for e in list(self.events) if e["event"] == event]

    def numbers(self) -> list[int]:
        return [int(e["data"]) for e in self.seen("message")]

    def usage(self) -> tuple[float, int]:
        """(CPU seconds used so far, resident bytes now)."""
        process = psutil.Process(self.process.pid)
        times = process.cpu_times()
        return times.user + times.system, process.memory_info().rss

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)


async def _true(value: object) -> object:
    return value


def until(predicate) -> object:  # type: ignore[no-untyped-def]
    """For eventually(): a plain predicate as the awaitable it wants."""
    return lambda: _true(predicate())


async def test_a_channel_subscriber_cut_off_does_not_spin_reports_the_gap_and_hears_again(partition: Partition) -> None:
    publisher = await partition.client(partition.direct_url)
    sent: list[int] = []

    async def publish_every_tenth_of_a_second() -> None:
        while True:
            sent.append(len(sent))
            await publisher.publish_channel("room", str(sent[-1]))
            await asyncio.sleep(0.1)

    subscriber = SubscriberProcess(partition.relayed_url, "room")
    publishing = asyncio.create_task(publish_every_tenth_of_a_second())
    try:
        await eventually(until(lambda: len(subscriber.numbers()) >= 3), "the subscriber to hear the publisher",
                         timeout=RECOVERY)
        assert partition.relay is not None
        accepted = partition.relay.accepted
        cpu_before, rss_before = subscriber.usage()
        frozen_at = time.monotonic()
        partition.relay.freeze()

        await eventually(until(lambda: subscriber.seen("cut off")), "the subscriber to notice the silence",
                         timeout=DEADLINE)
        # Stay frozen while it retries a few times: a reader that spins would show here.
        await eventually(until(lambda: partition.relay.accepted >= accepted + 3),
                         "three reconnect attempts during the partition", timeout=RECOVERY)
        cpu_after, rss_after = subscriber.usage()
        frozen_for = time.monotonic() - frozen_at
        heard_before_thaw = subscriber.numbers()
        last_sent_before_thaw = sent[-1]
        partition.relay.thaw()

        # A spinning reader burns a whole core (the 100%); an idle one, a few percent at most.
        assert cpu_after - cpu_before < 0.25 * frozen_for, (cpu_after - cpu_before, frozen_for)
        assert rss_after - rss_before < 50 * 2**20, (rss_before, rss_after)

        await eventually(until(lambda: subscriber.seen("gap")), "the gap to be reported", timeout=RECOVERY)
        await eventually(until(lambda: max(subscriber.numbers()) > last_sent_before_thaw + 5),
                         "messages published after the thaw to arrive", timeout=RECOVERY)
    finally:
        publishing.cancel()
        subscriber.stop()

    gaps = subscriber.seen("gap")
    assert len(gaps) == 1 and gaps[0]["gaps"] == 1, subscriber.output
    assert "health check" in gaps[0]["reason"]
    assert gaps[0]["since"] < gaps[0]["until"]
    kinds = [e["event"] for e in subscriber.events]
    assert kinds.index("cut off") < kinds.index("gap") < kinds.index("live"), kinds
    # The stream: messages before the gap, the gap, then newer messages; nothing twice, nothing out of order.
    numbers = subscriber.numbers()
    assert numbers == sorted(set(numbers))
    after_gap = [int(e["data"]) for e in subscriber.events[kinds.index("gap"):] if e["event"] == "message"]
    assert after_gap and min(after_gap) > max(heard_before_thaw)


async def fails_fast(call, match: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """The call raises BusUnavailable within DEADLINE: far below the 30 s calls used to hang."""
    async with asyncio.timeout(DEADLINE):
        with pytest.raises(bus.BusUnavailable, match=match):
            await call


async def test_calls_during_a_partition_fail_fast_with_bus_unavailable_and_work_after_it(partition: Partition) -> None:
    client = await partition.client(partition.relayed_url)
    cache = await partition.cache(partition.relayed_url)
    await client.create_subscription("orders", "mailer")
    await cache.set("k", b"v")
    waiting = asyncio.create_task(client.receive("orders", "mailer", timeout=30))
    await eventually(until(lambda: partition.parked_receives() == 1), "the receive to wait on the server")
    assert partition.relay is not None
    partition.relay.freeze()

    # A receive asked to wait 30 s fails once the silence is noticed (health checks), not after 35 s.
    await fails_fast(waiting)
    # The client now knows the bus is silent: each call fails at once or after one short probe,
    # saying so, instead of sending into the void and waiting out its timeout again.
    silent = r"has not answered for \d+\.\ds \(.*\); calls fail at once"
    await fails_fast(client.publish("orders", b"x"), silent)
    await fails_fast(client.receive("orders", "mailer", timeout=10), silent)
    await fails_fast(client.publish_channel("room", b"x"), silent)
    await fails_fast(client.subscription_stats("orders"), silent)
    await fails_fast(client.subscribe("room").open(), silent)
    await fails_fast(cache.get("k"))  # another client: it finds out by itself

    partition.relay.thaw()
    assert await eventually(lambda: client.publish("orders", b"after"), "publish to work again", timeout=RECOVERY)
    assert await eventually(lambda: cache.get("k"), "the cache to answer again", timeout=RECOVERY) == b"v"
    assert await client.receive("orders", "mailer", timeout=1) == b"after"


async def test_a_durable_receive_loop_survives_a_partition_and_loses_nothing(partition: Partition) -> None:
    publisher = await partition.client(partition.direct_url)
    receiver = await partition.client(partition.relayed_url)
    await publisher.create_subscription("jobs", "worker")
    received: list[bytes] = []
    failures: list[bus.BusUnavailable] = []

    async def receive_loop() -> None:
        # No pause after a failure, as a careless app would write it: during the outage each
        # receive() must still take its time (it waits for the next probe, up to its timeout),
        # or this loop would spin.
        while True:
            try:
                message = await receiver.receive("jobs", "worker", timeout=0.5)
            except bus.BusUnavailable as error:
                failures.append(error)
                continue
            if message is not None:
                received.append(message)

    receiving = asyncio.create_task(receive_loop())
    try:
        before = [f"before-{i}".encode() for i in range(5)]
        for message in before:
            await publisher.publish("jobs", message)
        await eventually(until(lambda: len(received) == 5), "the messages before the partition")

        assert partition.relay is not None
        partition.relay.freeze()
        # Once the receiver has failed and no receive waits on the server, nothing can take a
        # message on the receiver's behalf and lose it in the partition.
        await eventually(until(lambda: failures and partition.parked_receives() == 0),
                         "the receive in flight to fail and leave the server", timeout=DEADLINE)
        during = [f"during-{i}".encode() for i in range(5)]
        for message in during:
            assert await publisher.publish("jobs", message) == 1
        failed = len(failures)
        await eventually(until(lambda: len(failures) >= failed + 3), "the receiver to keep failing fast, not hang")
        partition.relay.thaw()

        await eventually(until(lambda: len(received) == 10), "the messages published during the partition",
                         timeout=RECOVERY)
    finally:
        receiving.cancel()
        await asyncio.gather(receiving, return_exceptions=True)
    assert received == before + during
    assert len(failures) < 100, f"{len(failures)} failed receives: the loop spun"  # a spin makes thousands
    assert all("has not answered" in str(f) or "no answer within" in str(f) or "lost the connection" in str(f)
               for f in failures), failures


async def test_a_pubsub_read_that_returns_nothing_means_a_dead_connection_not_read_again(redis_server) -> None:  # type: ignore[no-untyped-def]
    """The issue's spin, by its mechanism: redis-py (before 8.2) turned the kernel's ETIMEDOUT on a
    pub/sub socket into None from a blocking read, and a reader that read again spun at 100% CPU.

    The relay cannot make the kernel time a loopback socket out, so the read's answer is replaced
    here: one call returns None, as redis-py did, and the next ones are real again.
    """
    redis_server.flush()
    client = await bus.connect(f"{redis_server.url}?{OPTIONS}")
    try:
        subscription = await client.subscribe("room").open()
        pubsub = subscription._pubsub  # type: ignore[attr-defined]
        timed_out_reads = 0

        async def read_of_a_timed_out_socket(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal timed_out_reads
            timed_out_reads += 1
            return None

        pubsub.get_message = read_of_a_timed_out_socket  # any read in progress is real; the next one is not
        await client.publish_channel("room", b"wakes the reader")  # so a read in progress ends

        async def heard_after_the_gap() -> bytes | None:
            await client.publish_channel("room", b"after")
            try:
                return await subscription.get(timeout=0.1)
            except bus.MessagesMissed:
                return None

        with pytest.raises(bus.MessagesMissed, match="a blocking read returned nothing"):
            async with asyncio.timeout(RECOVERY):
                while True:
                    await subscription.get()  # "wakes the reader" first, if the reader was reading then
        assert await eventually(heard_after_the_gap, "messages on the new connection", timeout=RECOVERY) == b"after"
        assert timed_out_reads == 1  # given up at once, not read again in a loop
    finally:
        await client.close()
