"""Continuous client load in a background thread: GET and POST loops that record every failure."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field

import aiohttp


@dataclass
class LoadResult:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    # The "version" field of every successful answer, in completion order.
    versions: list[str] = field(default_factory=list)


class LoadGenerator:
    """`concurrency` loops, alternating GET <get_path> and POST <post_path> until stop()."""

    def __init__(self, base_url: str, get_path: str = "/version", post_path: str = "/echo",
                 concurrency: int = 16) -> None:
        self.base_url = base_url
        self.get_path = get_path
        self.post_path = post_path
        self.concurrency = concurrency
        self.result = LoadResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> "LoadGenerator":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        self._thread.join(timeout=60)
        return self.result

    @property
    def count(self) -> int:
        return self.result.ok + len(self.result.failures)

    async def _main(self) -> None:
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(self._loop(session, i) for i in range(self.concurrency)))

    async def _loop(self, session: aiohttp.ClientSession, index: int) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            post = (n + index) % 2 == 0
            payload = f"client {index} request {n}".encode()
            try:
                if post:
                    response = await session.post(self.base_url + self.post_path, data=payload)
                else:
                    response = await session.get(self.base_url + self.get_path)
                async with response:
                    body = await response.read()
                    if response.status != 200:
                        self.result.failures.append(f"{response.status} {body[:300]!r}")
                        continue
                    data = __import__("json").loads(body)
                    if post and data.get("echo") != payload.decode():
                        self.result.failures.append(f"bad echo {data!r}")
                        continue
                    self.result.ok += 1
                    self.result.versions.append(data.get("version", "?"))
            except Exception as exc:  # every kind of failure counts, and is kept for the message
                self.result.failures.append(f"{type(exc).__name__}: {exc}")
