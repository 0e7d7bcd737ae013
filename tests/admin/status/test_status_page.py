"""/<app>/status through a real master: every worker listed, live updates in a browser, a static page without JS."""

from __future__ import annotations

import os
import signal

from playwright.sync_api import expect

from tests.admin.status.support import first_sse_event, row_pids, two_apps, worker_pids
from tests.support.poll import wait_until

ROWS = "#status-workers tr[data-pid]"


def _page_pids(page) -> set[int]:
    return {int(pid) for pid in page.locator(ROWS).evaluate_all("rows => rows.map(r => r.dataset.pid)")}


def test_the_page_lists_every_worker_and_follows_a_killed_one_without_a_reload(make_site, page, tmp_path):
    site = make_site(two_apps(tmp_path / "app"))
    for app in ("beta", "alpha"):
        page.goto(f"{site.url}/{app}/status")
        expect(page.locator("h1")).to_have_text(f"{app} · status")
        expect(page.locator(ROWS)).to_have_count(2)
        assert _page_pids(page) == worker_pids(site, app)
    expect(page.locator("[data-live-status]")).to_have_text("live", timeout=5000)
    before = _page_pids(page)
    page.evaluate("window.sameDocument = true")  # gone if the page were loaded again

    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: victim not in _page_pids(page) and len(_page_pids(page) - before) == 1, 20,
               "the killed worker to leave the table and its replacement to join it")
    replacement = (_page_pids(page) - before).pop()
    expect(page.locator(f'{ROWS}[data-pid="{replacement}"]')).to_contain_text("ready", timeout=20000)
    assert worker_pids(site, "alpha") == before - {victim} | {replacement}
    assert page.evaluate("window.sameDocument") is True
    expect(page.locator("#status-summary")).to_contain_text("restarts")


def test_without_javascript_the_page_has_the_worker_rows_and_reloads_itself(make_site, tmp_path):
    site = make_site(two_apps(tmp_path / "app"))
    for n in range(3):
        assert site.get("/alpha/whoami").status == 200
    assert site.get("/alpha/nope").status == 404
    # Other front processes report their counts a few times a second, each its own: the page shows both statuses
    # once every front's count is in.
    response = site.wait_for(lambda: (r := site.get("/alpha/status", headers={"Accept": "text/html"}))
                             and "<td>404</td>" in r.body.decode() and "<td>200</td>" in r.body.decode() and r,
                             10, "the 200s and the 404 counted on the status page")
    assert response.status == 200 and response.header("Content-Type").startswith("text/html")
    html = response.body.decode()
    assert row_pids(html) == worker_pids(site, "alpha")
    assert '<noscript><meta http-equiv="refresh"' in html
    for fact in ("generation", "queue wait p50 / p99", "request rate", "last reload"):
        assert fact in html
    assert "<td>404</td>" in html and "<td>200</td>" in html

    # The same data as JSON, by query or by Accept, with the measured request rate; once every front's 200s are in
    # (the page above needed only one of them).
    site.wait_for(lambda: site.get("/alpha/status?format=json").json()["status_counts"].get("200", 0) >= 3, 10,
                  "the three 200s counted")
    by_query = site.get("/alpha/status?format=json").json()
    by_accept = site.get("/alpha/status", headers={"Accept": "application/json"}).json()
    for data in (by_query, by_accept):
        assert {w["pid"] for w in data["workers"]} == worker_pids(site, "alpha")
        assert data["status_counts"]["200"] >= 3 and data["status_counts"]["404"] == 1
        assert data["last_reload"]["ok"] is True
    # A rate needs two snapshots some time apart; each view of the page takes one.
    rate = wait_until(lambda: site.get("/alpha/status?format=json").json()["request_rate"], 10, "a measured rate")
    assert rate["seconds"] > 0 and rate["per_second"] >= 0

    # What a live page receives: its parts, rendered by the server.
    event = first_sse_event(site, "/beta/status/events")
    assert row_pids(event["html"]["status-workers"]) == worker_pids(site, "beta")
    assert site.get("/nope/status").status == 404
