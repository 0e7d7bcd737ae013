"""The log browser in a real browser (Playwright + Debian chromium): live tail, rollover, token, no JavaScript."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
from playwright.sync_api import expect

from tests.admin.support import TOKEN, AdminThread, FolderSite, admin_settings, log_settings

# Through the proxy every request carries X-Forwarded-For; here the browser sends it itself.
LOOPBACK = {"X-Forwarded-For": "127.0.0.1"}
REMOTE = {"X-Forwarded-For": "10.1.2.3"}


@pytest.fixture
def small_files_admin(tmp_path):
    site = FolderSite(tmp_path / "logs", log_settings(max_file_size=200))
    site.add_app("web")
    server = AdminThread(site, admin_settings(), TOKEN)
    try:
        yield server
    finally:
        server.stop()


def test_a_printed_line_shows_up_live_within_a_second(page, admin, site):
    logs = site.logs("web")
    writer = admin.call(lambda: logs.open_stream(0, 321, "stdout"))
    admin.call(lambda: writer.write(b"booted\n"))
    page.context.set_extra_http_headers(LOOPBACK)
    page.goto(f"{admin.url}/web/logs")
    page.get_by_role("link", name=writer.path.name).click()
    log = page.locator("pre.log")
    expect(log).to_contain_text("booted")
    expect(page.locator("[data-tail-status]")).to_have_text("live", timeout=5000)

    admin.call(lambda: writer.write(b"hello from the worker <b>not bold</b>\n"))
    expect(log).to_contain_text("hello from the worker <b>not bold</b>", timeout=1000)
    assert page.locator("pre.log b").count() == 0
    admin.call(lambda: writer.write(b"\x1b[31mred alert\x1b[0m\n"))
    expect(page.locator("pre.log .fg1")).to_have_text("red alert", timeout=1000)
    assert log.locator(".l").count() == 3


def test_the_live_view_follows_a_rollover(page, small_files_admin):
    admin = small_files_admin
    logs = admin.site.logs("web")
    writer = admin.call(lambda: logs.open_stream(1, 654, "stderr"))
    first = writer.path.name
    admin.call(lambda: writer.write(b"x" * 150 + b"\n"))
    page.context.set_extra_http_headers(LOOPBACK)
    page.goto(f"{admin.url}/web/logs/{first}")
    expect(page.locator("[data-tail-status]")).to_have_text("live", timeout=5000)
    admin.call(lambda: writer.write(b"after the rollover\n" * 3))
    assert writer.path.name != first
    log = page.locator("pre.log")
    expect(log.locator(".rolled")).to_have_text(f"continued in {writer.path.name}", timeout=1000)
    expect(log.locator(".l")).to_have_count(4, timeout=1000)
    expect(log.locator(".l").last).to_have_text("after the rollover")


def test_a_token_link_opens_the_pages_for_a_remote_browser(page, admin, site):
    logs = site.logs("web")
    writer = admin.call(lambda: logs.open_stream(0, 1, "stdout"))
    page.context.set_extra_http_headers(REMOTE)
    missing = page.goto(f"{admin.url}/web/logs")
    assert missing.status == 404
    page.goto(f"{admin.url}/web/logs?token={TOKEN}")
    assert page.url == f"{admin.url}/web/logs"
    expect(page.locator("h1")).to_have_text("web · logs")
    cookie, = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"] != TOKEN
    # The cookie carries the live tail too.
    page.get_by_role("link", name=writer.path.name).click()
    expect(page.locator("[data-tail-status]")).to_have_text("live", timeout=5000)
    admin.call(lambda: writer.write(b"seen remotely\n"))
    expect(page.locator("pre.log")).to_contain_text("seen remotely", timeout=1000)


def test_index_view_and_search_work_without_javascript(browser, admin, site):
    logs = site.logs("web")
    writer = admin.call(lambda: logs.open_stream(0, 42, "stdout"))
    admin.call(lambda: writer.write(b"alpha one\nbeta two\nalpha three\n"))
    context = browser.new_context(java_script_enabled=False, extra_http_headers=LOOPBACK)
    try:
        page = context.new_page()
        page.goto(f"{admin.url}/_pysupervise/")
        page.get_by_role("link", name="logs").first.click()
        page.get_by_role("link", name=writer.path.name).click()
        expect(page.locator("pre.log .l")).to_have_count(3)
        page.get_by_role("searchbox").fill("ALPHA")
        page.get_by_role("button", name="Search").click()
        assert page.url.endswith("?q=ALPHA")
        expect(page.locator("pre.log .l")).to_have_text(["alpha one", "alpha three"])
        expect(page.locator("pre.log mark").first).to_have_text("alpha")
    finally:
        context.close()


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_token_link_clicked_on_another_site_still_signs_in(page, admin, tmp_path):
    """A SameSite=Strict cookie set by a redirect that began on another site is not sent after it, not even
    on reload; the admin app hops through a page of its own instead, so the next request is same-site."""
    (tmp_path / "chat.html").write_text(f'<a id="go" href="{admin.url}/web/logs?token={TOKEN}">the logs</a>')
    handler = functools.partial(_QuietFiles, directory=str(tmp_path))
    other_site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=other_site.serve_forever, daemon=True).start()
    try:
        page.context.set_extra_http_headers(REMOTE)
        # "localhost" and "127.0.0.1" are different sites to the browser.
        page.goto(f"http://localhost:{other_site.server_address[1]}/chat.html")
        page.click("#go")
        page.wait_for_url(f"{admin.url}/web/logs")
        expect(page.locator("h1")).to_have_text("web · logs")
        page.reload()
        expect(page.locator("h1")).to_have_text("web · logs")
    finally:
        other_site.shutdown()
        other_site.server_close()


def test_an_open_index_shows_new_files_and_events_without_a_reload(page, admin, site):
    page.context.set_extra_http_headers(LOOPBACK)
    page.goto(f"{admin.url}/web/logs")
    expect(page.locator("#files")).to_contain_text("No worker output yet.")
    logs = site.logs("web")
    writer = admin.call(lambda: logs.open_stream(3, 3333, "stderr"))
    site.events["web"].append("worker-spawned slot=3 pid=3333")
    expect(page.get_by_role("link", name=writer.path.name)).to_be_visible(timeout=8000)
    expect(page.locator("tr.stderr")).to_have_count(1)
    expect(page.locator("#events")).to_contain_text("worker-spawned slot=3 pid=3333")
