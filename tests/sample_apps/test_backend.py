"""The backend role: handshake, signature check, body check, fetch with min_id, publish format, cleanup, registration."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import pytest
from aiohttp import web
from aiohttp.test_utils import unused_port

from sample_apps.wazstagram.backend.app import create_app
from sample_apps.wazstagram.backend.janitor import SubscriptionJanitor
from sample_apps.wazstagram.backend.newest_ids import KEY_PREFIX, NewestIds
from sample_apps.wazstagram.backend.registration import CityRegistrar
from sample_apps.wazstagram.backend.settings import BackendSettings
from sample_apps.wazstagram.cities import CITIES
from sample_apps.wazstagram.instagram_sim.app import SIMULATOR
from sample_apps.wazstagram.instagram_sim.app import create_app as create_simulator
from sample_apps.wazstagram.instagram_sim.settings import SimSettings
from sample_apps.wazstagram.signature import sign
from tests.sample_apps.waiting import eventually

CLIENT, SECRET = "test-client", "test-secret"
SEATTLE, ROME = "1465544", "1465538"
TOPIC = "wazages"


def update(object_id: str = SEATTLE) -> dict:
    return {"subscription_id": "1", "object": "geography", "object_id": object_id, "changed_aspect": "media",
            "time": 1359500000}


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature": sign(secret, body), "Content-Type": "application/json"}


@pytest.fixture
async def simulator(serve):
    sim = await serve(create_simulator(SimSettings(clients=((CLIENT, SECRET),), notify=False, seed=3)))
    store = sim.server.app[SIMULATOR].store
    for city in CITIES:  # Instagram knows the cities' geographies (normally from the registration)
        store.geography_at(city.latitude, city.longitude, 5000)
    return sim


@pytest.fixture
def settings(broker, simulator) -> BackendSettings:
    return BackendSettings(instagram_api=str(simulator.make_url("/v1")), public_url="http://127.0.0.1:9",
                           client_id=CLIENT, client_secret=SECRET, register=False, bus_url=broker.url,
                           cache_url=broker.url)


@pytest.fixture
async def reader(bus_client):
    """A subscription on the topic, like a frontend's; returns a function that takes the next message."""
    await bus_client.create_subscription(TOPIC, "reader")

    async def next_message(timeout: float = 5.0) -> dict | None:
        raw = await bus_client.receive(TOPIC, "reader", timeout)
        return None if raw is None else json.loads(raw)

    return next_message


async def test_the_handshake_echoes_the_challenge(serve, settings):
    backend = await serve(create_app(settings))
    response = await backend.get("/newimage/seattle", params={"hub.mode": "subscribe", "hub.challenge": "15f7d1a91c1f40f8a748fd134752feb3"})
    assert response.status == 200 and await response.text() == "15f7d1a91c1f40f8a748fd134752feb3"


async def test_the_handshake_checks_the_verify_token_when_one_is_configured(serve, settings):
    backend = await serve(create_app(replace(settings, verify_token="tok")))
    query = {"hub.mode": "subscribe", "hub.challenge": "abc"}
    assert (await backend.get("/newimage/seattle", params={**query, "hub.verify_token": "nope"})).status == 403
    assert (await backend.get("/newimage/seattle", params=query)).status == 403
    response = await backend.get("/newimage/seattle", params={**query, "hub.verify_token": "tok"})
    assert response.status == 200 and await response.text() == "abc"


async def test_a_signed_notification_is_answered_and_its_pictures_published(serve, settings, reader):
    backend = await serve(create_app(settings))
    body = json.dumps([update()]).encode()
    response = await backend.post("/newimage/seattle", data=body, headers=signed(body))
    assert response.status == 200
    message = await reader()
    assert message is not None and set(message) == {"city", "pic"} and message["city"] == "seattle"
    assert isinstance(message["pic"], str)  # the raw response text, not a parsed object
    envelope = json.loads(message["pic"])
    assert envelope["meta"] == {"code": 200} and envelope["data"]
    assert all(item["location"]["name"] == "Seattle" for item in envelope["data"])


@pytest.mark.parametrize("headers", [{}, {"X-Hub-Signature": "0" * 40}, {"X-Hub-Signature": "sha1=" + "0" * 40}],
                         ids=["missing", "wrong", "prefixed"])
async def test_a_bad_or_missing_signature_gets_403_and_nothing_is_published(serve, settings, reader, headers):
    backend = await serve(create_app(settings))
    refused = json.dumps([update(ROME)]).encode()
    assert (await backend.post("/newimage/rome", data=refused, headers=headers)).status == 403
    uppercase = {"X-Hub-Signature": sign(SECRET, refused).upper()}
    assert (await backend.post("/newimage/rome", data=refused, headers=uppercase)).status == 403
    accepted = json.dumps([update()]).encode()
    assert (await backend.post("/newimage/seattle", data=accepted, headers=signed(accepted))).status == 200
    # Messages arrive in publish order, so if Rome had been published it would come first.
    assert (await reader())["city"] == "seattle"
    assert await reader(timeout=0) is None


async def test_without_a_secret_any_notification_is_accepted(serve, settings, reader):
    backend = await serve(create_app(replace(settings, client_secret=None)))
    response = await backend.post("/newimage/seattle", data=json.dumps([update()]))
    assert response.status == 200
    assert (await reader())["city"] == "seattle"


@pytest.mark.parametrize("body", [b'{"object_id": "1465544"}', b"not json", b"", b'"[]"', b"null"])
async def test_a_body_that_is_not_a_json_array_gets_400(serve, settings, body):
    backend = await serve(create_app(settings))
    assert (await backend.post("/newimage/seattle", data=body, headers=signed(body))).status == 400


async def test_the_callback_is_answered_before_instagram_is_asked(serve, settings, reader):
    asked, release = asyncio.Event(), asyncio.Event()

    async def slow_recent(request: web.Request) -> web.Response:
        asked.set()
        await release.wait()
        return web.json_response({"meta": {"code": 200}, "data": [{"id": "7", "images": {}}]})

    slow_instagram = web.Application()
    slow_instagram.router.add_get("/v1/geographies/{id}/media/recent", slow_recent)
    instagram = await serve(slow_instagram)
    backend = await serve(create_app(replace(settings, instagram_api=str(instagram.make_url("/v1")))))
    body = json.dumps([update()]).encode()
    response = await backend.post("/newimage/seattle", data=body, headers=signed(body))
    assert response.status == 200  # while Instagram has not answered yet
    await asyncio.wait_for(asked.wait(), 5)
    release.set()
    assert (await reader())["city"] == "seattle"


async def test_min_id_progresses_per_city(serve, settings, reader, simulator, cache_client, caplog):
    caplog.set_level(logging.INFO, logger="wazstagram.backend")
    backend = await serve(create_app(settings))
    store = simulator.server.app[SIMULATOR].store

    async def notify(city: str, object_id: str) -> None:
        body = json.dumps([update(object_id)]).encode()
        assert (await backend.post(f"/newimage/{city}", data=body, headers=signed(body))).status == 200

    await notify("seattle", SEATTLE)
    first = json.loads((await reader())["pic"])["data"]
    newest = first[0]["id"]
    assert await NewestIds(cache_client).get("seattle") == newest

    added = store.add_media(SEATTLE, 2)
    await notify("seattle", SEATTLE)
    second = json.loads((await reader())["pic"])["data"]
    assert [item["id"] for item in second] == [added[1]["id"], added[0]["id"]]  # only the new ones, newest first
    assert await NewestIds(cache_client).get("seattle") == added[1]["id"]

    await notify("rome", ROME)  # another city starts without a min_id
    assert (await reader())["city"] == "rome"
    fetched = [r.getMessage() for r in caplog.records if "/media/recent?" in r.getMessage()]
    assert fetched[0].endswith(f"/geographies/{SEATTLE}/media/recent?client_id={CLIENT}")
    assert fetched[1].endswith(f"&min_id={newest}")
    assert "min_id" not in fetched[2] and ROME in fetched[2]

    await notify("seattle", SEATTLE)  # nothing new: nothing published
    await eventually(lambda: any("no new pictures for seattle" in r.getMessage() for r in caplog.records),
                     "the backend to find no new pictures")
    assert await reader(timeout=0) is None


async def test_a_cache_that_lost_the_min_ids_does_not_make_the_backend_publish_old_pictures(
        serve, settings, reader, simulator, cache_client):
    backend = await serve(create_app(settings))
    store = simulator.server.app[SIMULATOR].store
    body = json.dumps([update()]).encode()
    assert (await backend.post("/newimage/seattle", data=body, headers=signed(body))).status == 200
    first = json.loads((await reader())["pic"])["data"]
    assert await cache_client.delete(KEY_PREFIX + "seattle")  # what a Redis restart without persistence does

    added = store.add_media(SEATTLE, 1)
    assert (await backend.post("/newimage/seattle", data=body, headers=signed(body))).status == 200
    second = json.loads((await reader())["pic"])["data"]
    assert [item["id"] for item in second] == [added[0]["id"]]  # not the first fetch's pictures again
    assert len(first) > 1 and await NewestIds(cache_client).get("seattle") == added[0]["id"]


async def test_instagram_errors_are_logged_and_nothing_is_published(serve, settings, reader, caplog):
    caplog.set_level(logging.INFO, logger="wazstagram.backend")
    backend = await serve(create_app(replace(settings, client_id="unknown-client")))
    body = json.dumps([update()]).encode()
    assert (await backend.post("/newimage/seattle", data=body, headers=signed(body))).status == 200
    await eventually(lambda: any(r.levelno == logging.ERROR and "does not match a valid application" in r.getMessage()
                                 for r in caplog.records), "the error_message to be logged")
    assert await reader(timeout=0) is None


async def test_cleanup_deletes_subscriptions_with_more_than_the_threshold_waiting(bus_client):
    for name in ("dead", "limit", "alive"):
        await bus_client.create_subscription(TOPIC, name)
    for i in range(101):
        await bus_client.publish(TOPIC, f"m{i}")  # every subscription has 101 waiting
    await bus_client.receive(TOPIC, "limit", 0)  # limit: exactly 100
    for _ in range(101):
        await bus_client.receive(TOPIC, "alive", 0)
    janitor = SubscriptionJanitor(bus_client, TOPIC, interval=60, max_waiting=100)
    assert await janitor.sweep() == ["dead"]
    assert [name for name, _ in await bus_client.subscriptions(TOPIC)] == ["alive", "limit"]


async def test_cleanup_period_and_threshold_are_settings(serve, settings, bus_client):
    await bus_client.create_subscription(TOPIC, "over")
    await bus_client.create_subscription(TOPIC, "at")
    for i in range(4):
        await bus_client.publish(TOPIC, f"m{i}")
    await bus_client.receive(TOPIC, "at", 0)  # over: 4 waiting, at: 3
    await serve(create_app(replace(settings, cleanup_interval=0.05, cleanup_max_waiting=3)))

    async def names() -> list[str]:
        return [name for name, _ in await bus_client.subscriptions(TOPIC)]

    async def over_deleted() -> bool:
        return "over" not in await names()

    await eventually(over_deleted, "the backend's cleanup to delete 'over'")
    assert await names() == ["at"]  # the same sweep saw 'at' and kept it


async def test_slot_0_registers_every_city_once_and_again_only_when_missing(serve, settings, simulator):
    port = unused_port()
    settings = replace(settings, register=True, register_interval=0.1, public_url=f"http://127.0.0.1:{port}")
    await serve(create_app(settings), port=port)
    await serve(create_app(replace(settings, worker=1)))  # another worker: it does not register
    store = simulator.server.app[SIMULATOR].store
    expected = {f"http://127.0.0.1:{port}/newimage/{city.name}": city.geography_id for city in CITIES}

    def registered() -> dict[str, str]:
        return {s.callback_url: s.object_id for s in store.subscriptions.values()}

    await eventually(lambda: registered() == expected, "one subscription per city")
    # Instagram forgets one (a simulator reload): slot 0 notices and registers it again.
    store.unsubscribe(CLIENT, subscription_id=next(iter(store.subscriptions)))
    await eventually(lambda: registered() == expected, "the forgotten city to be registered again")
    # A second slot-0 worker (a reload overlapping the old one) adds no duplicates.
    assert await CityRegistrar(settings, simulator.session).ensure_registered() == 0
    assert len(store.subscriptions) == len(CITIES)
