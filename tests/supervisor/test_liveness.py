"""Hung workers are decided by liveness, never by one slow request (issue 15, point 1)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import aiohttp
import psutil

from tests.support.frozen import frozen
from tests.support.poll import wait_until
from tests.support.site import Site

# Short thresholds keep the suite fast; hang_timeout stays above a loaded test machine's scheduling hiccups.
AIOHTTP_APP = """
[apps.web]
app = "web:create_app"
dir = "{{apps}}"
route = "/"
workers = 1
upstream_timeout = {upstream_timeout}
hang_timeout = 3
graceful_timeout = 2
"""

COMMAND_APP = f"""
[apps.plain]
command = ["{sys.executable}", "plain_server.py"]
dir = "{{apps}}"
route = "/plain"
workers = 1
upstream_timeout = 1
"""


def events(site: Site, app: str) -> str:
    path = site.log_dir / app / "events.log"
    return path.read_text() if path.exists() else ""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_slow_request_gets_504_and_the_worker_with_its_websocket_lives_on(make_site, tmp_path):
    site = make_site(AIOHTTP_APP.format(upstream_timeout=2))
    marker = tmp_path / "slow-finished"

    async def scenario() -> tuple[int, int, str]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(site.url + "/ws") as ws:
                pid = int((await ws.receive_str(timeout=10)).rsplit(" ", 1)[1])
                async with session.get(site.url + f"/slow?seconds=6&marker={marker}",
                                       headers={"Accept": "application/json"}) as response:
                    status = response.status  # 504 after upstream_timeout; the handler runs on
                # The handler ends 4 s after the 504 (unless its worker was killed): by then the old rule had struck.
                await asyncio.to_thread(wait_until, lambda: marker.exists() or gone(pid), 30,
                                        "the slow handler to finish, or its worker to die")
                await ws.send_str("still there?")
                return pid, status, await ws.receive_str(timeout=10)

    pid, status, echoed = asyncio.run(scenario())
    assert status == 504
    assert not gone(pid) and marker.read_text() == str(pid)
    assert echoed == "echo:still there?"
    assert site.get("/whoami").json()["pid"] == pid
    assert "worker-hung" not in events(site, "web")


def test_a_blocked_event_loop_is_killed_its_websockets_get_1011_and_events_log_says_why(make_site):
    site = make_site(AIOHTTP_APP.format(upstream_timeout=60))

    async def scenario() -> tuple[int, aiohttp.WSMessage, int]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(site.url + "/ws") as ws:
                pid = int((await ws.receive_str(timeout=10)).rsplit(" ", 1)[1])
                # POST: not idempotent, so the proxy does not retry it on the replacement (which it would block too).
                async with session.post(site.url + "/block?seconds=600") as response:
                    blocked_status = response.status
                return pid, await ws.receive(timeout=30), blocked_status

    pid, message, blocked_status = asyncio.run(scenario())
    assert message.type == aiohttp.WSMsgType.CLOSE and message.data == 1011  # a close frame, not a dropped socket
    assert blocked_status == 502
    site.wait_for(lambda: gone(pid), 10, "the hung worker to be killed")
    site.wait_for(lambda: site.get("/whoami").json()["pid"] != pid, 30, "the replacement worker")
    log = events(site, "web")
    assert f"worker-hung generation=1 slot=0 pid={pid} probe=\"control ping" in log
    assert "event loop has not run for" in log
    assert "time.sleep" in log  # where the loop was stuck, from the worker's own control thread


def test_a_stopped_worker_is_judged_hung_and_replaced(make_site):
    site = make_site(AIOHTTP_APP.format(upstream_timeout=60))
    pid = site.get("/whoami").json()["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        site.wait_for(lambda: gone(pid), 30, "the stopped worker to be killed")
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGCONT)
    site.wait_for(lambda: site.get("/whoami").json()["pid"] != pid, 30, "the replacement worker")
    assert "control thread has not answered" in events(site, "web")


def test_a_master_stopped_past_hang_timeout_kills_no_worker_that_answered_meanwhile(make_site):
    """The master's own stall (stopped, paged out) must not read as its workers' hang. A ping is left unanswered
    (the worker is stopped), then the master is stopped, the worker answers while it is, and the master wakes past
    hang_timeout: its timers run before it reads, but the answer came, so the worker lives on."""
    site = make_site(AIOHTTP_APP.format(upstream_timeout=60))
    pid = site.get("/whoami").json()["pid"]
    master = site.process.pid
    with frozen(pid):
        time.sleep(1.5)  # the stall itself: pings go out every second, so one is out (and unanswered) now
        os.kill(master, signal.SIGSTOP)
    try:
        time.sleep(4)  # the worker answers now; the master sleeps past hang_timeout (3 s)
    finally:
        os.kill(master, signal.SIGCONT)
    # On waking the master judges that ping at once; a wrong kill would show within a probe round or two.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert not gone(pid)
        assert "worker-hung" not in events(site, "web")
        time.sleep(0.1)
    assert site.get("/whoami").json()["pid"] == pid


def test_a_command_worker_with_one_overdue_request_is_not_killed(make_site, tmp_path):
    site = make_site(COMMAND_APP)
    marker = tmp_path / "slow-finished"
    pid = site.get("/plain/whoami").json()["pid"]

    async def scenario() -> tuple[int, list[int]]:
        async with aiohttp.ClientSession() as session:
            slow = asyncio.ensure_future(session.get(site.url + f"/plain/slow?seconds=4&marker={marker}"))
            others = []
            for _ in range(3):  # answered while the slow one waits
                async with session.get(site.url + "/plain/whoami") as response:
                    others.append((await response.json())["pid"])
            async with await slow as response:
                return response.status, others

    status, others = asyncio.run(scenario())
    assert status == 504 and others == [pid] * 3
    # Nothing else is asked until the handler ends, 3 s after the 504: the old rule killed the worker in that gap.
    wait_until(lambda: marker.exists() or gone(pid), 30, "the slow handler to finish, or its worker to die")
    assert not gone(pid) and marker.read_text() == str(pid)
    assert site.get("/plain/whoami").json()["pid"] == pid
    assert "worker-hung" not in events(site, "plain")


def test_a_command_worker_that_answers_nothing_at_all_is_killed(make_site):
    site = make_site(COMMAND_APP)
    pid = site.get("/plain/whoami").json()["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        first = site.get("/plain/whoami", headers={"Accept": "application/json"})
        # Sent after the first one timed out: once it times out too, every request on the worker is overdue.
        second = site.get("/plain/whoami", headers={"Accept": "application/json"})
        assert (first.status, second.status) == (504, 504)
        site.wait_for(lambda: gone(pid), 10, "the unresponsive worker to be killed")
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGCONT)
    site.wait_for(lambda: site.get("/plain/whoami").json()["pid"] != pid, 30, "the replacement worker")
    assert "every request on it is overdue" in events(site, "plain")
