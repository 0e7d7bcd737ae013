"""One bad request, or one crash-looping slot, never takes an app down; a failed app comes back by itself
(issue 15)."""

from __future__ import annotations

import os
import signal

import psutil

from tests.admin.status.support import metric_samples, value
from tests.support.poll import wait_until
from tests.support.site import Site

WEB = """
[apps.web]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 2
"""

FRAGILE = """
[apps.fragile]
app = "fragile:create_app"
dir = "{{apps}}"
route = "/fragile"
workers = 2
start_timeout = 10
max_restarts = {max_restarts}
restart_window = 60
recovery_delay = 0.2
recovery_delay_max = 1
env = {{ PREFIX = "/fragile", CRASH_MARKER = "{marker}", CRASH_SLOTS = "{slots}" }}
"""


def ready_pids(site: Site, app: str) -> dict[int, int]:
    """slot → pid of the ready workers of the app's live generation."""
    status = site.app_status(app)
    return {w["slot"]: w["pid"] for w in status["workers"]
            if w["state"] == "ready" and w["generation"] == status["generation"]}


def alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def events(site: Site, app: str) -> str:
    return (site.log_dir / app / "events.log").read_text()


def test_a_request_that_kills_its_worker_kills_only_that_one(make_site):
    site = make_site(WEB)
    site.wait_for(lambda: len(ready_pids(site, "web")) == 2, 20, "two ready workers")
    before = ready_pids(site, "web")
    assert all(site.get("/whoami").status == 200 for _ in range(4))  # pooled connections to both, to be reused
    response = site.get("/crash", headers={"Accept": "application/json"})
    assert response.status == 502
    # Loopback clients see what the worker printed before it died.
    assert "about to crash" in response.json()["worker_stderr"]
    survivors = {slot: pid for slot, pid in before.items() if alive(pid)}
    assert len(survivors) == 1, (before, survivors)
    (slot, pid), = survivors.items()
    site.wait_for(lambda: len(ready_pids(site, "web")) == 2, 20, "the crashed slot's replacement")
    assert ready_pids(site, "web")[slot] == pid
    assert all(site.get("/whoami").status == 200 for _ in range(6))
    assert alive(pid)


def test_poison_requests_in_a_row_do_not_fail_the_app(make_site):
    site = make_site(WEB)
    site.wait_for(lambda: len(ready_pids(site, "web")) == 2, 20, "two ready workers")
    for _ in range(8):  # more than max_restarts (10) exits if each took two workers down
        assert site.get("/crash").status == 502
        assert site.app_status("web")["state"] == "running"
        site.wait_for(lambda: site.get("/whoami").status == 200, 30, "a normal request to succeed")
    site.wait_for(lambda: len(ready_pids(site, "web")) == 2, 30, "both slots to serve again")
    status = site.app_status("web")
    assert status["state"] == "running" and status["restarts"] == 8
    assert len(status["last_exits"]) == 5 and "exit code 17" in status["last_exits"][-1]["how"]
    assert "app-failed" not in events(site, "web")


def test_a_failed_app_recovers_by_itself_once_the_cause_is_gone(make_site, tmp_path):
    marker = tmp_path / "broken"
    marker.touch()
    site = make_site(FRAGILE.format(max_restarts=2, marker=marker, slots="0,1"))

    def failed_until_next_try() -> dict | None:
        status = site.app_status("fragile")  # during a try there is no next one yet
        return status if status["state"] == "failed" and status["next_attempt"] is not None else None

    failed = wait_until(failed_until_next_try, 30, "the app to be failed, its next try scheduled",
                        diagnostics=site.output_text)
    assert "exit code 3" in failed["failure"]
    response = site.get("/fragile/whoami", headers={"Accept": "application/json"})
    assert response.status == 503
    assert "refusing to start" in response.json()["worker_stderr"]
    # It keeps trying by itself: more attempts, each one scheduled, and every view of the state says so.
    attempts = failed["recovery_attempts"]
    site.wait_for(lambda: site.app_status("fragile")["recovery_attempts"] > attempts + 1, 30, "more retries")
    # (Between two tries there is a next one; during a try there is none: each view is polled.)
    site.wait_for(lambda: "next automatic try" in site.cli("status").stdout, 30, "the next try in the CLI")
    site.wait_for(lambda: "tries again by itself" in site.get("/fragile/status").text, 30, "it on the page")
    site.wait_for(lambda: ("pysupervise_app_next_attempt_timestamp_seconds", (("app", "fragile"),))
                  in metric_samples(site), 30, "it in the metrics")
    assert value(metric_samples(site), "pysupervise_app_failed", app="fragile") == 1
    marker.unlink()  # not a watched file: nothing reloads the app but its own retries
    site.wait_for(lambda: site.app_status("fragile")["state"] == "running", 30, "the app to recover by itself")
    site.wait_for(lambda: site.get("/fragile/whoami").status == 200, 20, "the app to serve")
    recovered = site.app_status("fragile")
    assert recovered["next_attempt"] is None and recovered["failure"] == ""
    log = events(site, "fragile")
    assert "app-failed" in log and "app-retry" in log and "app-recovered" in log


def test_a_crash_looping_slot_does_not_stop_the_others(make_site, tmp_path):
    marker = tmp_path / "broken"
    site = make_site(FRAGILE.format(max_restarts=2, marker=marker, slots="1"))
    site.wait_for(lambda: len(ready_pids(site, "fragile")) == 2, 20, "two ready workers")
    slot0 = ready_pids(site, "fragile")[0]
    marker.touch()  # from now on slot 1 cannot start
    os.kill(ready_pids(site, "fragile")[1], signal.SIGKILL)

    def slot1_crash_looping() -> bool:
        return any(s["slot"] == 1 and s["crash_looping"] for s in site.app_status("fragile")["slots"])

    site.wait_for(slot1_crash_looping, 30, "slot 1 to crash-loop")
    for _ in range(10):
        response = site.get("/fragile/whoami")
        assert response.status == 200 and response.json()["pid"] == slot0
    status = site.app_status("fragile")
    assert status["state"] == "running" and status["failure"] == ""
    assert "slot-crash-loop" in events(site, "fragile") and "app-failed" not in events(site, "fragile")
    marker.unlink()
    site.wait_for(lambda: 1 in ready_pids(site, "fragile"), 30, "slot 1 to come back by itself")
    assert ready_pids(site, "fragile")[0] == slot0
