"""Cookie sessions on the shared cache: a visitor's counter survives moving between workers and a reload."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pysupervise import bus
from tests.bus.conftest import Backend

WORKER = web.AppKey("worker", str)


async def counter(request: web.Request) -> web.Response:
    session = bus.get_session(request)
    session["count"] = session.get("count", 0) + 1
    return web.json_response({"count": session["count"], "worker": request.app[WORKER]})


async def forget(request: web.Request) -> web.Response:
    bus.get_session(request).invalidate()
    return web.Response(text="bye")


def worker_app(name: str, cache: bus.CacheClient | None = None) -> web.Application:
    app = web.Application()
    app[WORKER] = name
    bus.setup_sessions(app, cache)
    app.router.add_get("/", counter)
    app.router.add_get("/forget", forget)
    return app


async def test_counter_survives_switching_workers_and_a_reload(backend: Backend) -> None:
    # Two separate apps with their own cache connections stand in for two worker processes;
    # a third, built afterwards, for the next generation after a hot reload.
    servers = [TestServer(worker_app(f"w{i}", await backend.cache())) for i in range(3)]
    for server in servers[:2]:
        await server.start_server()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            counts = []
            for server in (servers[0], servers[1], servers[0], servers[1]):
                async with browser.get(server.make_url("/")) as response:
                    counts.append((await response.json())["count"])
            assert counts == [1, 2, 3, 4]

            cookie = response.cookies["pysupervise_session"]
            assert cookie["httponly"] and cookie["max-age"] == str(bus.DEFAULT_SESSION_TTL)

            for server in servers[:2]:
                await server.close()
            await servers[2].start_server()
            async with browser.get(servers[2].make_url("/")) as response:
                assert (await response.json()) == {"count": 5, "worker": "w2"}

            async with browser.get(servers[2].make_url("/forget")) as response:
                assert response.status == 200
            async with browser.get(servers[2].make_url("/")) as response:
                assert (await response.json())["count"] == 1
    finally:
        for server in servers:
            await server.close()


async def test_unknown_session_ids_are_not_adopted(backend: Backend) -> None:
    server = TestServer(worker_app("w", await backend.cache()))
    await server.start_server()
    try:
        planted = "A" * 43
        async with aiohttp.ClientSession(cookies={"pysupervise_session": planted}) as browser:
            async with browser.get(server.make_url("/")) as response:
                assert (await response.json())["count"] == 1
                assert response.cookies["pysupervise_session"].value != planted
    finally:
        await server.close()


async def test_setup_sessions_connects_its_own_cache_from_the_environment(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSUPERVISE_BUS", backend.url)
    monkeypatch.delenv("PYSUPERVISE_CACHE", raising=False)
    monkeypatch.setenv("PYSUPERVISE_APP", "counter")
    server = TestServer(worker_app("w"))
    await server.start_server()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            for expected in (1, 2):
                async with browser.get(server.make_url("/")) as response:
                    assert (await response.json())["count"] == expected
            # Named after the app, so two hosted apps on one host keep separate sessions.
            assert response.cookies.keys() == {"pysupervise_session_counter"}
    finally:
        await server.close()
