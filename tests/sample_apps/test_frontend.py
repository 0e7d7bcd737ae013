"""The frontend role: per-worker subscription, 150-per-city cache with the universe, replay order, rooms, the page."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import replace

import pytest
from aiohttp import web

from pysupervise.bus.broker import EmbeddedBroker
from sample_apps.wazstagram.cities import UNIVERSE
from sample_apps.wazstagram.frontend.app import FRONTEND, create_app
from sample_apps.wazstagram.frontend.fresh_pictures import FreshPictures
from sample_apps.wazstagram.frontend.media_relay import MAX_PICTURE_BYTES, RELAYED_HEADER
from sample_apps.wazstagram.frontend.page import render_page
from sample_apps.wazstagram.frontend.pic_cache import PictureCache
from sample_apps.wazstagram.frontend.settings import FrontendSettings
from sample_apps.wazstagram.instagram_sim.app import create_app as create_simulator
from sample_apps.wazstagram.instagram_sim.settings import SimSettings
from sample_apps.wazstagram.media_ids import newest_of
from tests.sample_apps.waiting import eventually

TOPIC = "wazages"


@pytest.fixture
def settings(broker) -> FrontendSettings:
    return FrontendSettings(receive_wait=0.2, retry_pause=0.05, bus_url=broker.url)


def message(city: str, n: int) -> str:
    pic = json.dumps({"meta": {"code": 200}, "data": [{"id": str(n), "city": city}]})
    return json.dumps({"city": city, "pic": pic})


def pic_number(frame: dict) -> int:
    assert frame["event"] == "newPic" and isinstance(frame["data"], str)
    return int(json.loads(frame["data"])["data"][0]["id"])


async def frames(ws, count: int) -> list[int]:
    return [pic_number(await ws.receive_json(timeout=5)) for _ in range(count)]


async def set_city(client, city: str):
    ws = await client.ws_connect("/ws")
    await ws.send_json({"event": "setCity", "data": {"city": city}})
    return ws


def test_the_cache_keeps_the_newest_150_per_city_and_for_the_universe():
    cache = PictureCache(150)
    for n in range(200):
        cache.add("seattle", f"s{n}")
    for n in range(10):
        cache.add("rome", f"r{n}")
    assert cache.replay("seattle") == [f"s{n}" for n in range(50, 200)]  # oldest first
    assert cache.replay("rome") == [f"r{n}" for n in range(10)]
    assert cache.replay(UNIVERSE) == [f"s{n}" for n in range(60, 200)] + [f"r{n}" for n in range(10)]
    assert cache.replay("london") == []
    cache.add(UNIVERSE, "u")  # a message for the universe itself is kept once
    assert cache.replay(UNIVERSE).count("u") == 1


async def test_set_city_replays_oldest_first_then_streams_only_that_city(serve, settings, bus_client):
    frontend = await serve(create_app(settings))
    for city, n in (("seattle", 1), ("rome", 2), ("seattle", 3)):
        await bus_client.publish(TOPIC, message(city, n))
    cache = frontend.server.app[FRONTEND].cache
    await eventually(lambda: len(cache.replay(UNIVERSE)) == 3, "the frontend to receive 3 messages")

    seattle, everything = await set_city(frontend, "seattle"), await set_city(frontend, UNIVERSE)
    assert await frames(seattle, 2) == [1, 3]
    assert await frames(everything, 3) == [1, 2, 3]
    for city, n in (("rome", 4), ("seattle", 5)):
        await bus_client.publish(TOPIC, message(city, n))
    assert await frames(seattle, 1) == [5]  # Rome's picture never reached the Seattle room
    assert await frames(everything, 2) == [4, 5]

    await seattle.send_json({"event": "setCity", "data": {"city": "rome"}})  # moving to another room
    assert await frames(seattle, 2) == [2, 4]
    await bus_client.publish(TOPIC, message("seattle", 6))
    await bus_client.publish(TOPIC, message("rome", 7))
    assert await frames(seattle, 1) == [7]


async def test_replay_is_capped_at_150_per_city(serve, settings, bus_client):
    frontend = await serve(create_app(replace(settings, cache_size=150)))
    for n in range(160):
        await bus_client.publish(TOPIC, message("seattle", n))
    cache = frontend.server.app[FRONTEND].cache
    await eventually(lambda: cache.replay("seattle")[-1:] == [message_pic("seattle", 159)], "all 160 messages")
    ws = await set_city(frontend, "seattle")
    assert await frames(ws, 150) == list(range(10, 160))


def message_pic(city: str, n: int) -> str:
    return json.loads(message(city, n))["pic"]


async def test_each_worker_has_its_own_subscription_and_removes_it_on_a_clean_stop(serve, settings, bus_client):
    first = await serve(create_app(replace(settings, worker=0)))
    second = await serve(create_app(replace(settings, worker=1)))
    names = [name for name, _ in await bus_client.subscriptions(TOPIC)]
    assert len(names) == 2 and all(uuid.UUID(name) for name in names)
    assert await bus_client.publish(TOPIC, message("seattle", 1)) == 2  # both workers get every picture
    for client in (first, second):
        cache = client.server.app[FRONTEND].cache
        await eventually(lambda: cache.replay("seattle"), "each worker to get the picture")
    await first.close()
    assert [name for name, _ in await bus_client.subscriptions(TOPIC)] == [second.server.app[FRONTEND].receiver.name]


async def test_a_subscription_deleted_by_the_cleanup_is_created_again(serve, settings, bus_client):
    frontend = await serve(create_app(settings))
    name = frontend.server.app[FRONTEND].receiver.name
    assert await bus_client.delete_subscription(TOPIC, name)

    async def subscribed_again() -> bool:
        return name in [n for n, _ in await bus_client.subscriptions(TOPIC)]

    await eventually(subscribed_again, "the frontend to subscribe again")
    await bus_client.publish(TOPIC, message("rome", 1))
    cache = frontend.server.app[FRONTEND].cache
    await eventually(lambda: cache.replay("rome"), "the picture after resubscribing")


async def test_receive_errors_are_retried_until_the_bus_is_back(serve, settings, broker):
    from pysupervise import bus

    frontend = await serve(create_app(settings))
    await broker.close()  # the bus goes away: receives fail and are retried
    replacement = EmbeddedBroker(broker.socket_path)
    await replacement.start()
    try:
        client = await bus.connect(replacement.url)
        try:
            async def delivered() -> bool:
                # The new broker has no subscriptions until the frontend creates its own again.
                await client.publish(TOPIC, message("london", 1))
                return bool(frontend.server.app[FRONTEND].cache.replay("london"))

            await eventually(delivered, "pictures to flow again after the bus came back", timeout=10, interval=0.1)
        finally:
            await client.close()
    finally:
        await replacement.close()


async def test_messages_without_a_city_and_pic_string_are_ignored(serve, settings, bus_client):
    frontend = await serve(create_app(settings))
    for junk in (b"not json", b"[]", json.dumps({"city": "rome"}).encode(), json.dumps({"city": 1, "pic": "x"}).encode()):
        await bus_client.publish(TOPIC, junk)
    await bus_client.publish(TOPIC, message("rome", 1))
    cache = frontend.server.app[FRONTEND].cache
    await eventually(lambda: cache.replay(UNIVERSE), "the valid message")
    assert cache.replay(UNIVERSE) == [message_pic("rome", 1)]


async def test_the_page_is_served_for_each_city_with_local_assets_only(serve, settings):
    frontend = await serve(create_app(settings))
    response = await frontend.get("/seattle")
    html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert 'data-city="seattle"' in html and "<title>wazstagram · Seattle</title>" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/app.js" in assets and "/static/style.css" in assets
    assert not [url for url in assets if "//" in url]  # no CDN: nothing from another host
    for asset in ("/static/app.js", "/static/style.css"):
        assert (await frontend.get(asset)).status == 200
    assert 'data-city="universe"' in await (await frontend.get("/")).text()
    assert (await frontend.get("/no/such/page")).status == 404
    assert (await frontend.get("/%3Cscript%3E")).status == 404


def test_the_page_escapes_the_city_name():
    html = render_page('x"><script>alert(1)</script>')
    assert "<script>alert(1)" not in html and 'data-city="x&quot;&gt;&lt;script&gt;' in html


async def test_media_is_relayed_to_the_simulators_site_when_this_site_runs_none(serve, settings):
    simulator = await serve(create_simulator(SimSettings(clients=(("c", "s"),), notify=False)))
    frontend = await serve(create_app(replace(settings, media_origin=str(simulator.make_url("")).rstrip("/"))))
    response = await frontend.get("/media/seattle/1359500000_calm_otter5_306.svg")
    assert response.status == 200 and response.content_type == "image/svg+xml"
    assert (await response.read()).startswith(b"<svg") and "immutable" in response.headers["Cache-Control"]
    assert (await frontend.get("/media/users/calm_otter5.svg")).status == 200
    assert (await frontend.get("/media/seattle/not-a-picture.svg")).status == 404  # the simulator's answer


async def test_media_without_an_origin_or_in_a_loop_is_refused_with_a_reason(serve, settings):
    alone = await serve(create_app(settings))
    response = await alone.get("/media/seattle/1_a_306.svg")
    assert response.status == 404 and "MEDIA_ORIGIN" in await response.text()
    # An origin that leads back to a site without the simulator: the relayed request is not relayed again.
    looping = await serve(create_app(replace(settings, media_origin="http://127.0.0.1:9")))
    response = await looping.get("/media/seattle/1_a_306.svg", headers={RELAYED_HEADER: "1"})
    assert response.status == 508 and "MEDIA_ORIGIN" in await response.text()
    response = await looping.get("/media/seattle/1_a_306.svg")  # nothing listens on port 9
    assert response.status == 502
    async def huge(_request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (MAX_PICTURE_BYTES + 1))

    huge_origin = web.Application()
    huge_origin.router.add_get("/media/{path:.+}", huge)
    origin = await serve(huge_origin)
    oversized = await serve(create_app(replace(settings, media_origin=str(origin.make_url("")).rstrip("/"))))
    assert (await oversized.get("/media/seattle/1_a_306.svg")).status == 502


def test_media_origin_must_be_an_http_address():
    assert FrontendSettings.from_env({"MEDIA_ORIGIN": "http://10.0.0.1:8080/"}).media_origin == "http://10.0.0.1:8080"
    assert FrontendSettings.from_env({}).media_origin is None
    with pytest.raises(ValueError, match="MEDIA_ORIGIN"):
        FrontendSettings.from_env({"MEDIA_ORIGIN": "10.0.0.1:8080"})


def envelope_message(city: str, *ids: int) -> str:
    """A message whose pic holds several pictures, newest first, as Instagram lists them."""
    pic = json.dumps({"meta": {"code": 200}, "data": [{"id": str(n), "city": city} for n in ids]})
    return json.dumps({"city": city, "pic": pic})


async def test_pictures_already_passed_on_are_not_sent_again(serve, settings, bus_client):
    # What a backend that lost its min_ids (Redis restarted without persistence) publishes: the latest
    # pictures again, a few new ones among them.
    frontend = await serve(create_app(settings))
    ws = await set_city(frontend, "seattle")
    await bus_client.publish(TOPIC, envelope_message("seattle", 12, 11, 10))
    assert [item["id"] for item in json.loads((await ws.receive_json(timeout=5))["data"])["data"]] == ["12", "11", "10"]
    await bus_client.publish(TOPIC, envelope_message("seattle", 12, 11, 10))  # nothing new: dropped
    await bus_client.publish(TOPIC, envelope_message("seattle", 14, 13, 12, 11, 10, 9))  # two new ones
    await bus_client.publish(TOPIC, envelope_message("rome", 11))  # another city has its own newest id
    frame = await ws.receive_json(timeout=5)
    assert [item["id"] for item in json.loads(frame["data"])["data"]] == ["14", "13"]
    cache = frontend.server.app[FRONTEND].cache
    await eventually(lambda: len(cache.replay(UNIVERSE)) == 3, "the Rome picture")
    assert [[item["id"] for item in json.loads(pic)["data"]] for pic in cache.replay(UNIVERSE)] == [
        ["12", "11", "10"], ["14", "13"], ["11"]]


def test_media_ids_are_ordered_by_their_number():
    fresh = FreshPictures()
    first = json.dumps({"data": [{"id": "900_7"}, {"id": "x"}]})
    assert fresh.only_new("rome", first) == first  # whole: the raw text unchanged
    assert fresh.only_new("rome", json.dumps({"data": [{"id": "1000_7"}, {"id": "899_7"}]})) == json.dumps(
        {"data": [{"id": "1000_7"}]})  # 1000 > 900 as numbers, not as strings
    assert fresh.only_new("rome", "not an envelope") == "not an envelope"  # not ours to judge
    assert newest_of("99", None, "100", "bad") == "100" and newest_of(None, "bad") is None
