"""End to end: `pysupervise start` on the repo's supervisor.toml, in a real browser, with the embedded bus and with Redis."""

from __future__ import annotations

import json
import re
import time
from typing import Iterator

import pytest
from playwright.sync_api import expect

from sample_apps.wazstagram.cities import CITIES
from sample_apps.wazstagram.signature import sign
from tests.support.repo_site import start_repo_site
from tests.support.site import Site

PICTURES = 20_000  # ms the page may take to show pictures (they flow within seconds of the start)
MEDIA_CITY = re.compile(r"/media/([a-z-]+)/")


@pytest.fixture(scope="module", params=["embedded", "redis"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    options: dict = {}
    if request.param == "redis":
        redis = request.getfixturevalue("redis_server")
        redis.flush()  # no min_ids, sessions or subscriptions from an earlier run
        options["bus"] = redis.url
    # Two workers whatever the machine has, so "a different worker" always exists; a faster simulator.
    site = start_repo_site(tmp_path_factory.mktemp(f"site-{request.param}"), workers=2,
                           env={"instagram": {"SIM_INTERVAL": "0.3"}}, **options)
    try:
        yield site
    finally:
        site.stop()


def picture_cities(page) -> list[str]:
    sources = page.eval_on_selector_all("#grid img", "images => images.map(i => i.getAttribute('src'))")
    return [MEDIA_CITY.search(src)[1] for src in sources]


def test_a_city_page_shows_only_that_citys_pictures(site, page):
    page.goto(site.url + "/seattle")
    page.wait_for_function("document.querySelectorAll('#grid figure').length >= 3", timeout=PICTURES)
    cities = picture_cities(page)
    assert cities and set(cities) == {"seattle"}, cities
    names = page.eval_on_selector_all("#grid .place", "places => places.map(p => p.textContent)")
    assert set(names) == {"Seattle"}


def cities_streamed_to(page) -> set[str]:
    """The cities of every picture the page's websocket receives (filled while Playwright runs)."""
    cities: set[str] = set()

    def on_frame(payload: str | bytes) -> None:
        message = json.loads(payload)
        if message.get("event") == "newPic":
            cities.update(item["location"]["name"] for item in json.loads(message["data"])["data"])

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    return cities


def frontend_slots_that_logged(site: Site, text: str) -> set[str]:
    """Worker slots whose stdout log (<log_dir>/frontend/<slot>-<pid>-stdout-….log) contains text."""
    return {path.name.split("-", 1)[0] for path in (site.log_dir / "frontend").glob("*-stdout-*")
            if text in path.read_text(errors="replace")}


def test_the_home_page_shows_every_city_on_either_frontend_worker(site, page, browser):
    context = browser.new_context()
    try:
        pages = [page, context.new_page()]
        streamed = [cities_streamed_to(p) for p in pages]
        for p in pages:
            p.goto(site.url + "/")
        deadline = time.monotonic() + PICTURES / 1000
        while not all(len(cities) == len(CITIES) for cities in streamed):
            assert time.monotonic() < deadline, f"cities streamed: {streamed}"
            page.wait_for_timeout(100)  # lets Playwright deliver websocket frames meanwhile
        # Each frontend worker logs "new connection for universe" per socket: both workers served one.
        site.wait_for(lambda: frontend_slots_that_logged(site, "new connection for universe") == {"0", "1"}, 10,
                      "both frontend workers to have a browser on the universe")
    finally:
        context.close()
    page.wait_for_function("new Set([...document.querySelectorAll('#grid img')]"
                           ".map(i => i.getAttribute('src').split('/')[4])).size >= 3", timeout=PICTURES)
    assert len(set(picture_cities(page))) >= 3
    image = page.eval_on_selector("#grid img", "i => i.getAttribute('src')")
    assert page.request.get(image).status == 200  # the simulator's picture, through the proxy


def test_a_chat_message_reaches_a_page_on_another_worker(site, page, browser):
    page.goto(site.url + "/chat/")
    badge = page.locator("#worker[data-worker]")
    expect(badge).to_have_count(1)
    first = (badge.get_attribute("data-worker"), badge.get_attribute("data-pid"))
    host = site.status()["host_id"]  # behind a balancer every host has these slots: the page names the host too
    assert badge.get_attribute("data-host") == host and f"connected to {host}/{first[0]} " in badge.text_content()
    context = browser.new_context()
    try:
        other = context.new_page()
        other.goto(site.url + "/chat/")
        for _ in range(10):  # the proxy sends the second socket to the less busy worker; be sure anyway
            other_badge = other.locator("#worker[data-worker]")
            expect(other_badge).to_have_count(1)
            second = (other_badge.get_attribute("data-worker"), other_badge.get_attribute("data-pid"))
            if second != first:
                break
            other.reload()
        assert second[0] != first[0] and second[1] != first[1], (first, second)

        text = f"hello from worker {first[0]} <i>not italic</i>"
        page.fill("#message", text)
        page.click("button[type=submit]")
        row = other.locator("#messages tbody tr", has_text=text)
        expect(row).to_have_count(1)
        assert row.get_attribute("data-source-worker") == first[0]
        assert row.get_attribute("data-source-host") == host and f"{host}/{first[0]}" in row.text_content()
        assert row.locator("i").count() == 0
        # and the other way round
        other.fill("#message", "and back")
        other.click("button[type=submit]")
        expect(page.locator(f'#messages tbody tr[data-source-worker="{second[0]}"]', has_text="and back")).to_have_count(1)
    finally:
        context.close()


def test_the_counter_counts_across_workers(site, page, browser):
    served_by = set()
    n = 0
    while len(served_by) < 2:  # requests alternate between idle workers; count until two pids answered
        n += 1
        assert n <= 20, f"every /counter/inc went to {served_by}"
        response = page.goto(site.url + "/counter/inc")
        assert page.inner_text("body") == f"Increased sum: {n}"
        served_by.add(response.headers["x-served-by"])
    page.goto(site.url + "/counter/get")
    assert page.inner_text("body") == f"Current sum: {n}"
    context = browser.new_context()  # another visitor has no sum yet
    try:
        stranger = context.new_page()
        stranger.goto(site.url + "/counter/get")
        assert stranger.inner_text("body") == "Current sum: undefined"
    finally:
        context.close()


def test_the_backend_refuses_unsigned_notifications_and_wrong_tokens(site):
    body = json.dumps([{"object": "geography", "object_id": "1465544"}]).encode()
    assert site.request("POST", "/newimage/seattle", body=body).status == 403
    wrong = {"X-Hub-Signature": sign("not-the-secret", body)}
    assert site.request("POST", "/newimage/seattle", body=body, headers=wrong).status == 403
    assert site.get("/newimage/seattle?hub.mode=subscribe&hub.challenge=x&hub.verify_token=nope").status == 403
    subscriptions = site.get("/v1/subscriptions?client_id=wazstagram-local&client_secret=local-demo-secret-not-for-production")
    assert len(subscriptions.json()["data"]) == 8  # one per city, registered by backend slot 0 alone
