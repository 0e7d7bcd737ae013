"""Admin pages never swallow an app's routes (issue 16 §5): an app at /api keeps its own /api/status and /api/logs
for everyone the proxy does not take for an admin client, through the real proxy and master.

The app (tests/apps/paths_app.py) answers any path with the path it received, so every answer says whether it
came from the app or from the admin pages.
"""

from __future__ import annotations

import re
from typing import Iterator

import pytest

from tests.admin.status.support import first_sse_event
from tests.support.poll import wait_until
from tests.support.site import Response, Site

TOKEN = "s3cret-token"
# 127.0.0.1 is the one admin address; 127.0.0.2 is another loopback client; 127.0.0.3 is a trusted balancer.
CONFIG = """
[admin]
allow = ["127.0.0.1/32"]

[proxy]
trusted_proxies = ["127.0.0.3/32"]

[apps.api]
app = "paths_app:create_app"
dir = "{apps}"
route = "/api"
workers = 1
"""
OTHER = "127.0.0.2"
BALANCER = "127.0.0.3"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    started = Site(tmp_path_factory.mktemp("admin-routes"), CONFIG)
    try:
        yield started.start(env={"PYSUPERVISE_ADMIN_TOKEN": TOKEN})
    finally:
        started.stop()


def app_path(response: Response) -> str | None:
    """The path the app received, or None when the answer did not come from the app."""
    if response.status != 200 or not (response.header("Content-Type") or "").startswith("application/json"):
        return None
    return response.json().get("raw_path")


def is_admin_status_page(response: Response, app: str = "api") -> bool:
    return response.status == 200 and f"{app} · status" in response.text and "data-live" in response.text


@pytest.mark.parametrize("path", ["/api/status", "/api/status?format=json", "/api/status/events", "/api/logs",
                                  "/api/logs/events.log", "/api/debug/", "/api/logs?token=not-the-token"])
def test_a_client_that_is_not_admin_reaches_the_apps_own_routes(site, path):
    response = site.get(path, source=OTHER)
    assert app_path(response) == path


def test_an_allowed_client_gets_the_admin_pages_there(site):
    assert is_admin_status_page(site.get("/api/status"))
    assert site.get("/api/status?format=json").json()["app"] == "api"
    logs = site.get("/api/logs")
    assert logs.status == 200 and "events.log" in logs.text and app_path(logs) is None
    assert app_path(site.get("/api/whoever")) == "/api/whoever"  # the app's other URLs stay the app's


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "localhost.evil.example"])
def test_a_loopback_client_naming_another_host_gets_the_app(site, host):
    # DNS rebinding: the browser is a loopback client, but the page it runs named evil.example.
    response = site.get("/api/status", headers={"Host": host.format(port=site.port)})
    assert app_path(response) == "/api/status"


def test_a_forged_cookie_gets_the_app(site):
    for cookie in ("pysupervise_admin=" + "0" * 64, f"pysupervise_admin={TOKEN}", "pysupervise_admin="):
        response = site.get("/api/status", headers={"Cookie": cookie}, source=OTHER)
        assert app_path(response) == "/api/status", cookie


def test_a_token_signs_a_client_in_and_its_cookie_makes_it_admin(site):
    login = site.get(f"/api/status?token={TOKEN}", source=OTHER)
    assert login.status == 303 and login.header("Location") == "/api/status"
    cookie = login.header("Set-Cookie").split(";", 1)[0]
    assert is_admin_status_page(site.get("/api/status", headers={"Cookie": cookie}, source=OTHER))
    # The cookie among the app's own cookies, as a browser sends it.
    both = site.get("/api/logs", headers={"Cookie": f"session=abc; {cookie}"}, source=OTHER)
    assert both.status == 200 and app_path(both) is None and "events.log" in both.text
    assert app_path(site.get("/api/status", source=OTHER)) == "/api/status"  # without it: the app again


def test_forwarded_addresses_count_only_from_a_trusted_proxy(site):
    spoofed = site.get("/api/status", headers={"X-Forwarded-For": "127.0.0.1"}, source=OTHER)
    assert app_path(spoofed) == "/api/status"
    assert dict(spoofed.json()["headers"])["X-Forwarded-For"] == OTHER  # and the app saw the real client
    through_balancer = site.get("/api/status", headers={"X-Forwarded-For": "127.0.0.1"}, source=BALANCER)
    assert is_admin_status_page(through_balancer)
    remote_behind_balancer = site.get("/api/status", headers={"X-Forwarded-For": "10.1.2.3"}, source=BALANCER)
    assert app_path(remote_behind_balancer) == "/api/status"


def test_the_status_page_also_lives_under_the_index(site):
    home = site.get("/_pysupervise/api/")
    assert is_admin_status_page(home)
    # Its own links stay under the index: JSON, refresh and the live event stream.
    links = set(re.findall(r'(?:href|data-live)="([^"]+)"', home.text))
    assert {"/_pysupervise/api/?format=json", "/_pysupervise/api/", "/_pysupervise/api/events"} <= links
    assert site.get("/_pysupervise/api/?format=json").json()["app"] == "api"
    assert "status-summary" in first_sse_event(site, "/_pysupervise/api/events")["html"]
    assert site.get("/_pysupervise/nope/").status == 404


@pytest.mark.parametrize("path", ["/_pysupervise/", "/_pysupervise/api/", "/_pysupervise/metrics"])
def test_a_url_no_app_owns_is_a_plain_404_for_others(site, path):
    response = site.get(path, source=OTHER)
    assert response.status == 404
    assert "pysupervise_" not in response.text and "status" not in response.text.lower().replace("404", "")


def test_the_startup_output_lists_each_apps_admin_urls_and_the_overlap(site):
    wait_until(lambda: "admin index:" in site.output_text() and "also cover" in site.output_text(), 10,
               "the startup summary", diagnostics=site.output_text)
    output = site.output_text()
    row = next(line for line in output.splitlines() if line.strip().startswith("api "))
    assert "/api/logs /api/status /api/debug/ /_pysupervise/api/" in row
    overlap = next(line for line in output.splitlines() if "also cover" in line)
    assert "the routes of app 'api' also cover /api/logs /api/status /api/debug: admin clients" in overlap
    assert f"{site.url}/_pysupervise/api/" in overlap


SEGMENTS = """
[admin]
allow = ["127.0.0.1/32"]

[apps.api]
app = "paths_app:create_app"
dir = "{apps}"
route = "/api"
workers = 1
logs_segment = "_logs"
status_segment = "_status"
debug = false

[apps.other]
app = "paths_app:create_app"
dir = "{apps}"
route = "/other"
workers = 1
"""


def test_per_app_segments_move_that_apps_pages_and_only_its(make_site):
    site = make_site(SEGMENTS)
    for path in ("/api/status", "/api/logs", "/api/debug/"):
        assert app_path(site.get(path)) == path  # even for an admin client: these are the app's now
    assert is_admin_status_page(site.get("/api/_status"))
    assert "status-summary" in first_sse_event(site, "/api/_status/events")["html"]
    logs = site.get("/api/_logs/")
    assert logs.status == 200 and "events.log" in logs.text and app_path(logs) is None
    assert app_path(site.get("/api/_status", source=OTHER)) == "/api/_status"
    assert is_admin_status_page(site.get("/other/status"), "other")  # [admin]'s segments for the others
    assert app_path(site.get("/other/_status")) == "/other/_status"  # not a page of app "other"

    index = site.get("/_pysupervise/")
    links = set(re.findall(r'href="([^"]+)"', index.text))
    assert {"/api/_status", "/api/_logs", "/other/status", "/other/logs", "/other/debug"} <= links
    assert "/api/debug" not in links  # debug = false
    for link in ("/api/_status", "/api/_logs", "/other/status", "/other/logs"):
        assert site.get(link).status == 200, link
    status_links = set(re.findall(r'(?:href|data-live)="([^"]+)"', site.get("/api/_status").text))
    assert {"/api/_logs", "/api/_status?format=json", "/api/_status/events"} <= status_links

    wait_until(lambda: "admin index:" in site.output_text(), 10, "the startup summary", diagnostics=site.output_text)
    row = next(line for line in site.output_text().splitlines() if line.strip().startswith("api "))
    assert "/api/_logs /api/_status /_pysupervise/api/" in row


def test_the_debugger_follows_its_apps_segment(make_site):
    site = make_site(SEGMENTS.replace("debug = false", 'debug_segment = "_debug"'))
    assert site.get("/api/_debug").status == 301
    assert site.get("/api/_debug").header("Location") == "/api/_debug/"
    assert app_path(site.get("/api/debug")) == "/api/debug"
    assert app_path(site.get("/api/_debug", source=OTHER)) == "/api/_debug"
