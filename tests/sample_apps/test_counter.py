"""The counter: Increased/Current sum semantics, with the session in the shared cache so every worker agrees."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest
from aiohttp import ClientSession, CookieJar, TCPConnector

from sample_apps.counter.app import create_app
from sample_apps.counter.settings import CounterSettings
from tests.support.repo_site import start_repo_site
from tests.support.site import Site

CONCURRENT_INCREMENTS = 300


@pytest.fixture
def settings(broker) -> CounterSettings:
    return CounterSettings(cache_url=broker.url)


async def text(session: ClientSession, url: str) -> str:
    async with session.get(url) as response:
        assert response.status == 200
        return await response.text()


async def test_inc_and_get(serve, settings):
    counter = await serve(await create_app(settings))
    assert await (await counter.get("/counter/get")).text() == "Current sum: undefined"
    assert await (await counter.get("/counter/inc")).text() == "Increased sum: 1"
    assert await (await counter.get("/counter/inc")).text() == "Increased sum: 2"
    assert await (await counter.get("/counter/get")).text() == "Current sum: 2"


async def test_the_session_cookie_lasts_a_day_and_sessions_are_separate(serve, settings):
    counter = await serve(await create_app(settings))
    response = await counter.get("/counter/inc")
    cookie = next(iter(response.cookies.values()))
    assert cookie["max-age"] == "86400" and cookie["httponly"]
    async with ClientSession() as stranger:
        assert await text(stranger, str(counter.make_url("/counter/get"))) == "Current sum: undefined"
        assert await text(stranger, str(counter.make_url("/counter/inc"))) == "Increased sum: 1"
    assert await (await counter.get("/counter/inc")).text() == "Increased sum: 2"


async def test_every_worker_sees_the_same_session(serve, broker):
    workers = [await serve(await create_app(CounterSettings(cache_url=broker.url, worker=slot))) for slot in (0, 1)]
    # One browser: one cookie jar across both workers (unsafe=True: cookies for 127.0.0.1 with ports).
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as browser:
        seen = []
        for n in range(1, 7):
            worker = workers[n % 2]
            async with browser.get(str(worker.make_url("/counter/inc"))) as response:
                assert await response.text() == f"Increased sum: {n}"
                seen.append(response.headers["X-Served-By"])
        assert len(set(seen)) == 2
        assert await text(browser, str(workers[0].make_url("/counter/get"))) == "Current sum: 6"


@pytest.fixture(scope="module", params=["embedded", "redis"])
def counter_site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The repo's counter app alone, hosted with three workers, on the embedded cache or on Redis."""
    options: dict = {}
    if request.param == "redis":
        options["bus"] = request.getfixturevalue("redis_server").url
    site = start_repo_site(tmp_path_factory.mktemp(f"counter-{request.param}"), workers=3, apps={"counter"}, **options)
    try:
        yield site
    finally:
        site.stop()


async def test_concurrent_increments_of_one_session_on_several_workers_all_count(counter_site):
    # One visitor firing many /inc at once: each worker reads and writes the same session meanwhile.
    async with ClientSession(connector=TCPConnector(limit=100), cookie_jar=CookieJar(unsafe=True)) as browser:
        async with browser.get(counter_site.url + "/counter/inc") as first:
            assert await first.text() == "Increased sum: 1"

        async def increase() -> tuple[int, str]:
            async with browser.get(counter_site.url + "/counter/inc") as response:
                assert response.status == 200
                return int((await response.text()).removeprefix("Increased sum: ")), response.headers["X-Served-By"]

        answers = await asyncio.gather(*(increase() for _ in range(CONCURRENT_INCREMENTS)))
        async with browser.get(counter_site.url + "/counter/get") as response:
            total = await response.text()
    assert len({served_by for _, served_by in answers}) >= 2, "the increments should have been spread over workers"
    # Every increment counted once: the sums handed out are exactly 2..301, and the total is 301.
    assert sorted(value for value, _ in answers) == list(range(2, CONCURRENT_INCREMENTS + 2))
    assert total == f"Current sum: {CONCURRENT_INCREMENTS + 1}"
