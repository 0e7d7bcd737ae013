"""The Instagram simulator: subscriptions with the hub.challenge check, recent media, signed notifications, pictures."""

from __future__ import annotations

import json
import random

import pytest
from aiohttp.test_utils import TestClient

from sample_apps.wazstagram.instagram_sim.app import SIMULATOR, create_app
from sample_apps.wazstagram.instagram_sim.media import IdClock, distance_m
from sample_apps.wazstagram.instagram_sim.settings import MIN_INTERVAL, SimSettings
from sample_apps.wazstagram.signature import sign
from tests.sample_apps.callbacks import CallbackRecorder
from tests.sample_apps.waiting import eventually

CLIENT, SECRET = "test-client", "test-secret"
# The spec's table: name, latitude, longitude, geography id.
SPEC_CITIES = [
    ("seattle", 47.606308, -122.332072, "1465544"), ("new-york", 40.714379, -74.005989, "1465542"),
    ("los-angeles", 34.052304, -118.243686, "1465540"), ("pittsburgh", 40.440709, -79.995879, "1465541"),
    ("san-francisco", 37.774963, -122.419433, "1465543"), ("washington-dc", 38.895125, -77.03637, "1465537"),
    ("london", 51.508235, -0.128023, "1465536"), ("rome", 41.901534, 12.460781, "1465538"),
]


def settings(**overrides) -> SimSettings:
    return SimSettings(**{"clients": ((CLIENT, SECRET),), "notify": False, "seed": 7, **overrides})


async def subscribe(sim: TestClient, callback_url: str, lat: float = 47.606308, lng: float = -122.332072,
                    **overrides: str):
    form = {"client_id": CLIENT, "client_secret": SECRET, "object": "geography", "aspect": "media", "lat": str(lat),
            "lng": str(lng), "radius": "5000", "callback_url": callback_url, "verify_token": "tok", **overrides}
    response = await sim.post("/v1/subscriptions/", data=form)
    return response.status, await response.json()


@pytest.fixture
async def callbacks(serve):
    recorder = CallbackRecorder()
    client = await serve(recorder.app())
    recorder.base = str(client.make_url("/cb"))
    return recorder


async def test_subscribing_checks_the_challenge_echo_and_answers_the_v1_shape(serve, callbacks):
    sim = await serve(create_app(settings()))
    status, body = await subscribe(sim, f"{callbacks.base}/seattle")
    assert status == 200 and body["meta"] == {"code": 200}
    assert body["data"] == {"object": "geography", "object_id": "1465544", "aspect": "media",
                            "callback_url": f"{callbacks.base}/seattle", "type": "subscription", "id": body["data"]["id"]}
    [handshake] = callbacks.handshakes
    assert handshake["hub.mode"] == "subscribe" and handshake["hub.verify_token"] == "tok" and handshake["hub.challenge"]


async def test_a_wrong_echo_refuses_the_subscription(serve, callbacks):
    callbacks.echo = False
    sim = await serve(create_app(settings()))
    status, body = await subscribe(sim, f"{callbacks.base}/seattle")
    assert status == 400 and body["meta"]["error_type"] == "APISubscriptionError"
    assert "Challenge verification failed" in body["meta"]["error_message"]
    listed = await (await sim.get("/v1/subscriptions", params={"client_id": CLIENT, "client_secret": SECRET})).json()
    assert listed["data"] == []


async def test_the_same_callback_and_geography_is_one_subscription(serve, callbacks):
    sim = await serve(create_app(settings()))
    _, first = await subscribe(sim, f"{callbacks.base}/seattle")
    _, again = await subscribe(sim, f"{callbacks.base}/seattle")
    _, london = await subscribe(sim, f"{callbacks.base}/london", lat=51.508235, lng=-0.128023)
    assert again["data"]["id"] == first["data"]["id"] != london["data"]["id"]
    listed = await (await sim.get("/v1/subscriptions/", params={"client_id": CLIENT, "client_secret": SECRET})).json()
    assert sorted(s["id"] for s in listed["data"]) == sorted([first["data"]["id"], london["data"]["id"]])

    deleted = await sim.delete("/v1/subscriptions/", params={"client_id": CLIENT, "client_secret": SECRET,
                                                              "id": first["data"]["id"]})
    assert deleted.status == 200
    listed = await (await sim.get("/v1/subscriptions/", params={"client_id": CLIENT, "client_secret": SECRET})).json()
    assert [s["id"] for s in listed["data"]] == [london["data"]["id"]]
    await sim.delete("/v1/subscriptions/", params={"client_id": CLIENT, "client_secret": SECRET, "object": "all"})
    listed = await (await sim.get("/v1/subscriptions/", params={"client_id": CLIENT, "client_secret": SECRET})).json()
    assert listed["data"] == []


async def test_unknown_clients_and_wrong_secrets_get_400(serve, callbacks):
    sim = await serve(create_app(settings()))
    status, body = await subscribe(sim, f"{callbacks.base}/seattle", client_id="nobody")
    assert status == 400 and body["meta"]["error_type"] == "OAuthClientException"
    status, body = await subscribe(sim, f"{callbacks.base}/seattle", client_secret="guess")
    assert status == 400 and body["meta"]["error_type"] == "OAuthClientException"
    assert callbacks.handshakes == []  # refused before anyone was called

    response = await sim.get("/v1/geographies/1465544/media/recent", params={"client_id": "nobody"})
    body = await response.json()
    assert response.status == 400
    assert body["meta"]["code"] == 400 and body["meta"]["error_type"] and body["meta"]["error_message"]


async def test_recent_media_is_newest_first_after_min_id_exclusive_with_a_count(serve):
    sim = await serve(create_app(settings()))
    store = sim.server.app[SIMULATOR].store
    seattle = store.geography_at(47.606308, -122.332072, 5000)  # starts with a few pictures
    store.add_media(seattle.id, 30)

    async def recent(**params: str):
        response = await sim.get(f"/v1/geographies/{seattle.id}/media/recent", params={"client_id": CLIENT, **params})
        return response.status, await response.json()

    status, body = await recent()
    ids = [int(item["id"]) for item in body["data"]]
    assert status == 200 and body["meta"] == {"code": 200}
    assert len(ids) == 20 and ids == sorted(ids, reverse=True) and len(set(ids)) == 20
    _, body = await recent(count="3")
    assert [item["id"] for item in body["data"]] == [str(i) for i in ids[:3]]
    _, body = await recent(min_id=str(ids[5]))
    assert [int(item["id"]) for item in body["data"]] == ids[:5]
    _, body = await recent(min_id=str(ids[0]))
    assert body["data"] == []
    status, body = await recent(count="lots")
    assert status == 400 and body["meta"]["code"] == 400
    response = await sim.get("/v1/geographies/999/media/recent", params={"client_id": CLIENT})
    assert response.status == 400


async def test_the_eight_cities_have_their_ids_and_media_lies_within_5_km(serve, callbacks):
    sim = await serve(create_app(settings()))
    for name, lat, lng, geography_id in SPEC_CITIES:
        status, body = await subscribe(sim, f"{callbacks.base}/{name}", lat=lat, lng=lng)
        assert status == 200 and body["data"]["object_id"] == geography_id, name
        sim.server.app[SIMULATOR].store.add_media(geography_id, 15)
        response = await sim.get(f"/v1/geographies/{geography_id}/media/recent", params={"client_id": CLIENT})
        for item in (await response.json())["data"]:
            assert set(item) >= {"id", "type", "created_time", "link", "tags", "images", "user", "caption",
                                 "likes", "comments", "location"}
            assert isinstance(item["id"], str) and isinstance(item["created_time"], str)
            assert {kind: (image["width"], image["height"]) for kind, image in item["images"].items()} == {
                "thumbnail": (150, 150), "low_resolution": (306, 306), "standard_resolution": (612, 612)}
            assert set(item["user"]) >= {"id", "username", "full_name", "profile_picture"}
            assert item["caption"] is None or isinstance(item["caption"]["text"], str)
            assert isinstance(item["likes"]["count"], int) and isinstance(item["comments"]["count"], int)
            where = item["location"]
            assert distance_m(lat, lng, where["latitude"], where["longitude"]) <= 5000, (name, where)


async def test_notifications_are_signed_and_sometimes_carry_two_updates(serve, callbacks):
    sim = await serve(create_app(settings()))
    for name, lat, lng, _ in SPEC_CITIES[:3]:
        await subscribe(sim, f"{callbacks.base}/{name}", lat=lat, lng=lng)
    # A new subscription is told about its geography's first pictures right away.
    await eventually(lambda: len(callbacks.notifications) >= 3, "the welcome notifications")
    notifier = sim.server.app[SIMULATOR].notifier
    for _ in range(30):
        await notifier.tick()
    await eventually(lambda: len(callbacks.notifications) >= 33, "30 more notification batches")
    sizes = []
    ids = {name: geography_id for name, _, _, geography_id in SPEC_CITIES}
    for city, body, headers in callbacks.notifications:
        assert headers["X-Hub-Signature"] == sign(SECRET, body)
        updates = json.loads(body)
        sizes.append(len(updates))
        for update in updates:
            assert update["object"] == "geography" and update["changed_aspect"] == "media"
            assert update["object_id"] == ids[city] and update["subscription_id"] and isinstance(update["time"], int)
    assert set(sizes) == {1, 2}


async def test_the_generator_is_seeded_and_runs_at_its_interval(serve, callbacks):
    async def sequence(seed: int) -> list[str | None]:
        sim = await serve(create_app(settings(seed=seed)))
        for name, lat, lng, _ in SPEC_CITIES:
            await subscribe(sim, f"{callbacks.base}/{name}", lat=lat, lng=lng)
        return [await sim.server.app[SIMULATOR].notifier.tick() for _ in range(12)]

    first, again, other = await sequence(11), await sequence(11), await sequence(12)
    assert first == again and first != other and len(set(first)) > 1

    running = await serve(create_app(settings(notify=True, interval=MIN_INTERVAL)))
    await subscribe(running, f"{callbacks.base}/seattle")
    notifier = running.server.app[SIMULATOR].notifier
    await eventually(lambda: notifier.sent >= 5, "the generator to post on its own")
    assert SimSettings.from_env({"SIM_INTERVAL": "0"}).interval == MIN_INTERVAL  # the rate is bounded


async def test_placeholder_pictures_are_generated_svgs(serve):
    sim = await serve(create_app(settings()))
    store = sim.server.app[SIMULATOR].store
    seattle = store.geography_at(47.606308, -122.332072, 5000)
    item = store.recent(seattle.id, None, 1)[0]
    for url in (item["images"]["low_resolution"]["url"], item["user"]["profile_picture"]):
        response = await sim.get(url)
        assert response.status == 200 and response.headers["Content-Type"].startswith("image/svg+xml")
        assert (await response.text()).startswith("<svg")
    assert "Seattle" in await (await sim.get(item["images"]["thumbnail"]["url"])).text()
    for bad in ("/media/seattle/..%2f..%2fetc_passwd_306.svg", "/media/seattle/1_x_999.svg", "/media/users/<b>.svg"):
        assert (await sim.get(bad)).status == 404


def test_media_ids_always_increase():
    clock = IdClock()
    ids = [int(clock.next_id()) for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert random.Random(1).random() == random.Random(1).random()  # the seeded generator's premise
