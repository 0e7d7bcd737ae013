"""wazstagram on several hosts sharing one Redis: pictures load on a host without the simulator, and a Redis
restart replays nothing to browsers that already got it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest

from sample_apps.wazstagram.cities import CITIES, UNIVERSE
from tests.bus.servers import RedisServer
from tests.support.redis_server import restart_without_persistence
from tests.support.repo_site import start_repo_site
from tests.support.site import Site
from tests.sample_apps.waiting import eventually

WAZSTAGRAM = {"frontend", "backend", "instagram"}
FAST_SIMULATOR = {"instagram": {"SIM_INTERVAL": "0.3"}}
PICTURES = 30_000  # ms for pictures to reach a page (they flow within seconds of the start)


def start_site(workdir: Path, **options) -> Site:
    workdir.mkdir()
    return start_repo_site(workdir, **options)


def test_a_site_without_the_simulator_shows_pictures_whose_images_load(redis_server, tmp_path, page):
    # Host A runs every wazstagram role; host B only a frontend. Both share one Redis, as behind a load balancer.
    redis_server.flush()
    host_a = start_site(tmp_path / "a", workers=1, apps=WAZSTAGRAM, bus=redis_server.url, env=FAST_SIMULATOR)
    try:
        host_b = start_site(tmp_path / "b", workers=1, apps={"frontend"}, bus=redis_server.url,
                            env={"frontend": {"MEDIA_ORIGIN": host_a.url}})
        try:
            page.goto(host_b.url + "/")
            page.wait_for_function("document.querySelectorAll('#grid img').length >= 3", timeout=PICTURES)
            # Every image the browser shows came from host B, and loaded.
            page.wait_for_function("[...document.querySelectorAll('#grid img')].every(i => i.complete)", timeout=PICTURES)
            loaded = page.eval_on_selector_all("#grid img", "images => images.map(i => [i.src, i.naturalWidth])")
            assert all(src.startswith(host_b.url + "/media/") and width > 0 for src, width in loaded), loaded
            response = page.request.get(loaded[0][0])
            assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
            assert response.body().startswith(b"<svg")
        finally:
            host_b.stop()
    finally:
        host_a.stop()


@pytest.fixture
def site_on_own_redis(own_redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Site, RedisServer]]:
    site = start_site(tmp_path / "site", workers=2, apps=WAZSTAGRAM, bus=own_redis_server.url, env=FAST_SIMULATOR)
    try:
        yield site, own_redis_server
    finally:
        site.stop()


class PictureStream:
    """A browser's websocket on the universe: every picture it receives, in order, as (city, id)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for frame in ws:
            message = json.loads(frame.data)
            if message.get("event") == "newPic":
                self.received += [(item["location"]["name"], item["id"]) for item in json.loads(message["data"])["data"]]

    def cities(self, since: int = 0) -> set[str]:
        return {city for city, _ in self.received[since:]}

    def newest(self) -> dict[str, int]:
        newest: dict[str, int] = {}
        for city, media_id in self.received:
            newest[city] = max(newest.get(city, 0), int(media_id))
        return newest


async def test_a_redis_restart_replays_no_picture_to_a_browser_that_already_got_it(site_on_own_redis):
    site, redis = site_on_own_redis
    every_city = {city.title for city in CITIES}
    stream = PictureStream()
    async with aiohttp.ClientSession() as http, http.ws_connect(site.url.replace("http", "ws", 1) + "/ws") as ws:
        await ws.send_json({"event": "setCity", "data": {"city": UNIVERSE}})
        reading = asyncio.get_running_loop().create_task(stream.read(ws))
        try:
            await eventually(lambda: stream.cities() == every_city, "pictures from every city", timeout=60)
            before, newest = len(stream.received), stream.newest()
            # The backend's min_ids and the frontends' subscriptions are lost with Redis's keys.
            await asyncio.to_thread(restart_without_persistence, redis)

            def every_city_has_new_pictures() -> bool:
                fresh = {city for city, media_id in stream.received[before:] if int(media_id) > newest[city]}
                return fresh == every_city

            await eventually(every_city_has_new_pictures, "new pictures from every city after the restart", timeout=90)
        finally:
            reading.cancel()
    ids = [media_id for _, media_id in stream.received]
    repeated = sorted({media_id for media_id in ids if ids.count(media_id) > 1})
    assert not repeated, f"{len(repeated)} pictures were sent twice: {repeated}"
