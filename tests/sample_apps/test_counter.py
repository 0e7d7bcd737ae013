"""The counter: Increased/Current sum semantics, with the session in the shared cache so every worker agrees."""

from __future__ import annotations

import pytest
from aiohttp import ClientSession, CookieJar

from sample_apps.counter.app import create_app
from sample_apps.counter.settings import CounterSettings


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
