"""Bus publish→receive latency (p50/p99) and messages/s: embedded broker vs Redis, 1 and 4 subscribers.

Run: python -m benchmarks.bus_latency [--messages 20000] [--latency-samples 2000]

Like production, the broker runs in its own process (as it would inside the master) and each
subscriber is its own process (as a worker would be); all use uvloop. Latency is measured with
publishes paced 1 ms apart, so it shows the path, not a queue; throughput is a flood of
publishes from 32 concurrent tasks, counted as messages delivered to subscribers per second.
Both backends get max_waiting=1 000 000 here so the flood measures speed, not the drop bound.
CLOCK_MONOTONIC is shared by all processes on Linux, so timestamps compare across them.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PAYLOAD = 100  # bytes per message, header included
HEADER = struct.Struct("!Id")  # sequence number, send time (time.monotonic)
TOPIC = "bench"


@dataclass(frozen=True)
class Result:
    backend: str
    subscribers: int
    p50_ms: float
    p99_ms: float
    delivered_per_s: float
    published_per_s: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, what: str, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"benchmark: timed out waiting for {what}")
        time.sleep(0.02)


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    socket_path = workdir / "bus.sock"
    code = (
        "import asyncio, sys, uvloop\n"
        "from pathlib import Path\n"
        "from pysupervise.bus.broker import EmbeddedBroker\n"
        "async def main():\n"
        "    broker = EmbeddedBroker(Path(sys.argv[1]), max_waiting=1_000_000)\n"
        "    await broker.start()\n"
        "    await asyncio.Event().wait()\n"
        "uvloop.run(main())\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code, str(socket_path)])
    wait_for(socket_path.exists, "the embedded broker's socket")
    from pysupervise.bus.urls import embedded_url

    return process, embedded_url(socket_path)


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("benchmark: redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_for(answers, "redis-server to answer PING")
    return process, f"redis://127.0.0.1:{port}/0?max_waiting=1000000"


def subscriber(url: str, name: str, expected: int, ready, results) -> None:  # type: ignore[no-untyped-def]
    """One subscriber process: receive `expected` messages, report latencies and the last arrival time."""
    import uvloop

    from pysupervise import bus

    async def run() -> None:
        async with await bus.connect(url) as client:
            await client.create_subscription(TOPIC, name)
            ready.put(name)
            latencies: list[float] = []
            last_arrival = 0.0
            while len(latencies) < expected:
                message = await client.receive(TOPIC, name, timeout=10)
                if message is None:
                    break
                last_arrival = time.monotonic()
                latencies.append(last_arrival - HEADER.unpack_from(message)[1])
            await client.delete_subscription(TOPIC, name)
        results.put((latencies, last_arrival))

    uvloop.run(run())


async def publish(url: str, count: int, paced: float | None, concurrency: int) -> tuple[float, float]:
    from pysupervise import bus

    padding = b"x" * (PAYLOAD - HEADER.size)
    async with await bus.connect(url) as client:
        sequence = iter(range(count))
        started = time.monotonic()

        async def publisher() -> None:
            for i in sequence:
                await client.publish(TOPIC, HEADER.pack(i, time.monotonic()) + padding)
                if paced:
                    await asyncio.sleep(paced)

        await asyncio.gather(*(publisher() for _ in range(1 if paced else concurrency)))
        return started, time.monotonic()


def run_phase(url: str, subscribers: int, count: int, paced: float | None) -> tuple[list[float], float, float, float]:
    import uvloop

    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    processes = [
        context.Process(target=subscriber, args=(url, f"sub{i}", count, ready, results)) for i in range(subscribers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=30)
    started, published = uvloop.run(publish(url, count, paced, concurrency=32))
    latencies: list[float] = []
    last_arrival = published
    for _ in processes:
        got, arrival = results.get(timeout=60)
        if len(got) < count:
            raise SystemExit(f"benchmark: a subscriber got {len(got)} of {count} messages")
        latencies += got
        last_arrival = max(last_arrival, arrival)
    for process in processes:
        process.join(timeout=10)
    return latencies, started, published, last_arrival


def measure(backend: str, url: str, subscribers: int, messages: int, samples: int) -> Result:
    latencies, _, _, _ = run_phase(url, subscribers, samples, paced=0.001)
    _, started, published, finished = run_phase(url, subscribers, messages, paced=None)
    quantiles = statistics.quantiles(latencies, n=100)
    return Result(
        backend,
        subscribers,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=quantiles[98] * 1000,
        delivered_per_s=messages * subscribers / (finished - started),
        published_per_s=messages / (published - started),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000, help="messages published in the throughput run")
    parser.add_argument("--latency-samples", type=int, default=2_000, help="paced messages in the latency run")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="psbus-bench-", dir="/tmp"))
    servers = [("embedded", *start_broker(workdir)), ("redis", *start_redis(workdir))]
    results: list[Result] = []
    try:
        for backend, _, url in servers:
            for subscribers in (1, 4):
                results.append(measure(backend, url, subscribers, args.messages, args.latency_samples))
                print(f"  done: {backend}, {subscribers} subscriber(s)", file=sys.stderr)
    finally:
        for _, process, _ in servers:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nbus publish→receive, {PAYLOAD}-byte messages, durable subscriptions, one process per subscriber")
    print(f"{'backend':<10}{'subs':>5}{'p50 ms':>10}{'p99 ms':>10}{'delivered/s':>14}{'published/s':>14}")
    for r in results:
        print(f"{r.backend:<10}{r.subscribers:>5}{r.p50_ms:>10.3f}{r.p99_ms:>10.3f}{r.delivered_per_s:>14,.0f}{r.published_per_s:>14,.0f}")


if __name__ == "__main__":
    main()
