"""The debugger page in a real browser: a breakpoint pauses only the debug worker; evaluate; continue; ?kill."""

from __future__ import annotations

import re
import threading

import psutil
from playwright.sync_api import expect

from tests.debugger.support import COOKIE, debug_pid, debug_site, every_front_sends_to, line_of


def test_a_breakpoint_set_in_the_page_pauses_the_cookie_request_while_everyone_else_is_served(make_site, page,
                                                                                                tmp_path):
    site, source = debug_site(make_site, tmp_path)
    line = line_of(source, "BREAK HERE")
    page.goto(f"{site.url}/web/debug")  # the 301 to /web/debug/ on the way
    assert page.url.endswith("/web/debug/")
    expect(page.locator("#state")).to_have_text("running", timeout=20000)
    expect(page.locator("#file-name")).to_have_text("dbgapp.py")
    worker_pid = debug_pid(site)
    assert worker_pid

    page.locator(f'#source .ln[data-line="{line}"] .no').click()
    expect(page.locator(f'#source .ln[data-line="{line}"]')).to_have_class(re.compile(r"\bbp\b"))
    expect(page.locator("#breakpoints li[data-line]")).to_have_count(1)
    expect(page.locator("#breakpoints .unverified")).to_have_count(0)  # the worker has it

    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    with_cookie = {"Cookie": f"{COOKIE}={cookie['value']}"}
    every_front_sends_to(site, worker_pid, with_cookie, 20, "every front to send the cookie to the debug worker")
    answer: dict = {}
    paused_request = threading.Thread(target=lambda: answer.update(
        response=site.get("/compute?n=21", headers=with_cookie, timeout=60)))
    paused_request.start()
    try:
        expect(page.locator("#state")).to_have_text("paused", timeout=15000)
        expect(page.locator("#where")).to_contain_text(f"dbgapp.py:{line}")
        expect(page.locator("#source .ln.current")).to_have_attribute("data-line", str(line))
        expect(page.locator("#stack li").first).to_contain_text("compute")
        expect(page.locator("#variables")).to_contain_text("number = 21")
        expect(page.locator("#variables")).to_contain_text("request = ")

        page.fill("#expression", "number * 10 + 1")
        page.press("#expression", "Enter")
        expect(page.locator("#results .a").first).to_have_text("211")

        # The debug worker sits at a breakpoint; the normal workers serve everyone else.
        served = [site.get("/whoami", timeout=10) for _ in range(20)]
        assert [r.status for r in served] == [200] * 20
        assert worker_pid not in {r.json()["pid"] for r in served}
        assert paused_request.is_alive() and "response" not in answer

        page.click("#btn-continue")
        paused_request.join(20)
        assert answer["response"].status == 200
        assert answer["response"].json() == {"pid": worker_pid, "doubled": 42, "version": "one"}
        expect(page.locator("#state")).to_have_text("running")
    finally:
        paused_request.join(30)

    # A reload ends this session (its worker stops) and starts the next one; the breakpoint stays set.
    page.reload()
    expect(page.locator("#state")).to_have_text("running", timeout=20000)
    site.wait_for(lambda: not psutil.pid_exists(worker_pid), 10, "the first debug worker to stop")
    expect(page.locator(f'#source .ln[data-line="{line}"]')).to_have_class(re.compile(r"\bbp\b"))
    worker_pid = debug_pid(site)
    assert worker_pid

    stack_button = page.locator("#workers button[data-pid]").first
    stack_button.click()
    expect(page.locator("#dump")).to_contain_text("Thread MainThread")

    killed = site.get("/web/debug/?kill", headers={"Accept": "application/json"})
    assert killed.json() == {"app": "web", "debug_worker": "stopped"}
    assert "Max-Age=0" in (killed.header("Set-Cookie") or "") or "expires" in (killed.header("Set-Cookie") or "").lower()
    expect(page.locator("#state")).to_have_text("detached")
    site.wait_for(lambda: not psutil.pid_exists(worker_pid), 10, "the debug worker to exit")
    assert debug_pid(site) is None
    again = site.get("/web/debug/?kill", headers={"Accept": "application/json"})
    assert again.json()["debug_worker"] == "not running"
    events = (site.log_dir / "web" / "events.log").read_text()
    for event in ("debug-attach", "debug-evaluate expression='number * 10 + 1'", "debug-detach"):
        assert event in events
