"""[apps.X] cpu_scheduling: workers run under SCHED_BATCH by default (a woken worker does not preempt the proxy in
the middle of a pass), SCHED_OTHER when asked; the master, which serves the clients, keeps the normal policy."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")

SITE = """
[apps.batched]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 2

[apps.normal]
app = "web:create_app"
dir = "{apps}"
route = "/normal"
workers = 1
cpu_scheduling = "normal"
env = { PREFIX = "/normal" }
"""


def test_workers_are_batch_scheduled_unless_the_app_says_normal(make_site):
    site = make_site(SITE)
    policies = {app: {os.sched_getscheduler(w["pid"]) for w in site.app_status(app)["workers"]}
                for app in ("batched", "normal")}
    assert policies == {"batched": {os.SCHED_BATCH}, "normal": {os.SCHED_OTHER}}
    assert os.sched_getscheduler(site.process.pid) == os.SCHED_OTHER
    assert site.get("/normal/whoami").status == 200 and site.get("/whoami").status == 200


def test_a_worker_restarted_after_a_crash_is_batch_scheduled_again(make_site):
    site = make_site(SITE)
    first = site.app_status("batched")["workers"][0]["pid"]
    os.kill(first, 9)

    def replaced():
        pids = [w["pid"] for w in site.app_status("batched")["workers"] if w["pid"]]
        return len(pids) == 2 and first not in pids and pids

    pids = site.wait_for(replaced, 30, "the crashed worker to be replaced")
    assert {os.sched_getscheduler(pid) for pid in pids} == {os.SCHED_BATCH}
