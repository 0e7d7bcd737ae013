"""Each sample runs alone for development (`python -m ...`, its own embedded bus), checked with a real browser."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.cookiejar
import json
import urllib.request

from playwright.sync_api import expect

from pysupervise import bus
from tests.sample_apps.processes import running

URL = r"(http://127\.0\.0\.1:\d+)"
EVIL = '<img src=x onerror="window.__pwned = 1"> & <b>bold</b>'


def publish(bus_url: str, topic: str, message: str) -> None:
    async def send() -> None:
        client = await bus.connect(bus_url)
        try:
            await client.publish(topic, message)
        finally:
            await client.close()

    # Playwright's sync API keeps an event loop on this thread, so the bus client gets its own thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, send()).result(timeout=10)


def test_all_of_wazstagram_runs_in_one_process_and_pictures_stream_in(page):
    with running("sample_apps.wazstagram", "--port", "0", env={"SIM_INTERVAL": "0.2"}) as app:
        url = app.wait_for(rf"frontend listening on {URL}")[1]
        page.goto(url + "/london")
        page.wait_for_function("document.querySelectorAll('#grid figure').length >= 3", timeout=20_000)
        sources = page.eval_on_selector_all("#grid img", "images => images.map(i => i.getAttribute('src'))")
        assert all("/media/london/" in src for src in sources), sources


def test_the_page_shows_low_resolution_pictures_newest_first_and_escapes_text(page):
    with running("sample_apps.wazstagram.frontend", "--port", "0") as app:
        bus_url = app.wait_for(r"embedded bus: (\S+)")[1]
        url = app.wait_for(rf"frontend listening on {URL}")[1]
        items = [{"id": str(n), "images": {"low_resolution": {"url": f"/media/test/{n}_low.svg"},
                                           "standard_resolution": {"url": f"/media/test/{n}_big.svg"}},
                  "user": {"username": f"user{n}"}, "caption": {"text": f"caption {n}"},
                  "location": {"name": "Seattle"}} for n in range(112, 100, -1)]  # newest first, as Instagram
        items[3]["caption"]["text"] = EVIL
        items[5]["images"]["low_resolution"]["url"] = "javascript:window.__pwned = 2"  # never becomes a src
        pic = json.dumps({"meta": {"code": 200}, "data": items})
        publish(bus_url, "wazages", json.dumps({"city": "seattle", "pic": pic}))

        page.goto(url + "/seattle")
        page.wait_for_function("document.querySelectorAll('#grid figure').length === 11", timeout=10_000)
        ids = page.eval_on_selector_all("#grid figure", "figures => figures.map(f => f.dataset.id)")
        assert ids == [str(n) for n in range(112, 100, -1) if n != 107]  # newest at the top left
        sources = page.eval_on_selector_all("#grid img", "images => images.map(i => i.getAttribute('src'))")
        assert all(src.endswith("_low.svg") for src in sources)
        evil = page.locator('#grid figure[data-id="109"]')
        expect(evil.locator(".caption")).to_have_text(EVIL)
        assert page.locator("#grid b").count() == 0 and page.evaluate("window.__pwned") is None
        expect(evil.locator("figcaption")).to_have_css("opacity", "0")
        evil.hover()  # username and caption show on hover
        expect(evil.locator("figcaption")).to_have_css("opacity", "1")
        expect(evil.locator(".user")).to_have_text("@user109")


def test_chat_runs_alone_and_escapes_everything(page):
    with running("sample_apps.chat", "--port", "0") as app:
        url = app.wait_for(rf"chat listening on ({URL[1:-1]}/chat/)")[1]
        page.goto(url)
        rows = page.locator("#messages tbody tr")
        expect(rows.filter(has_text="Connected")).to_have_count(1)
        page.fill("#message", EVIL)
        page.click("button[type=submit]")
        expect(rows.first.locator("td.text")).to_have_text(EVIL)
        assert page.locator("#messages tbody b, #messages tbody img").count() == 0
        assert page.evaluate("window.__pwned") is None
        page.evaluate("document.getElementById('nickname').value = 'n'.repeat(13)")  # past the input's maxlength
        page.fill("#message", "too long a name")
        page.click("button[type=submit]")
        expect(page.locator("#error")).to_have_text("nickname is 13 characters long; the limit is 12")


def test_counter_runs_alone():
    with running("sample_apps.counter", "--port", "0") as app:
        url = app.wait_for(rf"counter listening on {URL}")[1]
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        read = lambda path: opener.open(url + path, timeout=10).read().decode()  # noqa: E731
        assert [read("/counter/get"), read("/counter/inc"), read("/counter/inc"), read("/counter/get")] == [
            "Current sum: undefined", "Increased sum: 1", "Increased sum: 2", "Current sum: 2"]
