"""`pysupervise restart | stop | start | scale APP` on a real site, found from a subfolder as git finds its
repository (issue 16 §6)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from tests.support.load import LoadGenerator
from tests.support.poll import wait_until
from tests.support.site import Site

APP = """
[apps.web]
app = "printer:create_app"
dir = "{apps}"
route = "/"
workers = 2
graceful_timeout = 10
"""


OTHER = """
[apps.other]
app = "printer:create_app"
dir = "{apps}"
route = "/other"
workers = 1
"""


def ready_workers(site: Site, generation: int | None = None) -> list[dict]:
    return [w for w in site.app_status("web")["workers"]
            if w["state"] == "ready" and (generation is None or w["generation"] == generation)]


def steady_load(site: Site) -> LoadGenerator:
    """Clients that never stop asking (GET a short request, POST an echo) while a command runs."""
    return LoadGenerator(site.url, get_path="/slow?seconds=0.02", post_path="/echo", concurrency=4)


def cli_in(folder, *args: str) -> subprocess.CompletedProcess:
    """The CLI as a user runs it in `folder`: no -c."""
    return subprocess.run([sys.executable, "-m", "pysupervise", *args], cwd=folder, capture_output=True, text=True,
                          timeout=120)


def test_restart_starts_a_new_generation_with_nothing_changed_and_no_request_fails(make_site):
    site = make_site(APP)
    with steady_load(site) as load:
        wait_until(lambda: load.count > 30, 20, "the load to get going")
        restarted = site.cli("restart", "web")
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        assert restarted.stdout.strip() == "web: now serving generation 2; the previous one drains"
        seen_at = load.count
        wait_until(lambda: load.count > seen_at + 30, 20, "more requests after the switch")
        result = load.stop()
    assert result.failures == [], result.failures[:10]
    assert result.versions[-1] == "2" and "1" in result.versions
    status = site.app_status("web")
    assert status["generation"] == 2 and status["last_reload"]["trigger"] == "pysupervise restart"
    site.wait_for(lambda: len(site.app_status("web")["workers"]) == 2, 20, "the old generation to drain")


def test_stop_app_answers_503_survives_a_master_restart_and_start_serves_again(make_site):
    site = make_site(APP)
    deeper = site.workdir / "sub" / "deeper"
    deeper.mkdir(parents=True)
    stopped = cli_in(deeper, "stop", "web")  # no -c: the supervisor.toml two folders up
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stopped.stdout.strip() == "web: stopped; its routes answer 503 until `pysupervise start web`"
    assert f"using {site.config_path}" in stopped.stderr
    refused = site.get("/slow", headers={"Accept": "application/json"})
    assert refused.status == 503 and "stopped by the operator" in refused.text and "pysupervise start web" in \
        refused.text
    status = site.app_status("web")
    assert status["state"] == "stopped" and status["stopped_by_operator"]
    site.wait_for(lambda: site.app_status("web")["workers"] == [], 20, "its workers to drain and stop")
    assert "stopped by the operator" in site.cli("status").stdout
    assert json.loads((site.run_dir / "stopped-apps.json").read_text()) == ["web"]
    assert cli_in(deeper, "stop", "web").stdout.strip() == "web: already stopped"
    # Neither a reload nor a save of supervisor.toml starts it.
    assert site.cli("reload").returncode == 0
    site.write_config(APP + "env = { SAVED = '1' }\n" + OTHER)
    site.wait_for(lambda: [a["state"] for a in site.status()["apps"]] == ["stopped", "running"], 30,
                  "the save to be applied (a new app started)")
    assert site.cli("reload", "web").returncode == 1
    assert site.cli("restart", "web").returncode == 1
    assert site.app_status("web")["state"] == "stopped" and site.get("/slow").status == 503

    # The master restarts: the app stays down.
    site.process.send_signal(signal.SIGTERM)
    site.process.wait(30)
    site.url = ""
    site.start()
    assert "app 'web' stays stopped (pysupervise start web)" in site.output_text()
    assert site.get("/slow").status == 503 and site.app_status("web")["state"] == "stopped"

    started = cli_in(deeper, "start", "web")
    assert started.returncode == 0, started.stdout + started.stderr
    assert started.stdout.strip() == "web: started, serving generation 1"
    assert site.get("/slow").status == 200
    assert len(ready_workers(site)) == 2 and not site.app_status("web")["stopped_by_operator"]
    assert json.loads((site.run_dir / "stopped-apps.json").read_text()) == []
    assert cli_in(deeper, "start", "web").stdout.strip() == "web: already running (generation 1)"


def test_scale_starts_and_drains_slots_of_the_live_generation(make_site):
    site = make_site(APP.replace("workers = 2", "workers = 1"))
    scaled = site.cli("scale", "web", "3")
    assert scaled.returncode == 0, scaled.stdout + scaled.stderr
    assert scaled.stdout.strip() == "web: 3 workers (was 1), generation 1"
    assert sorted(w["slot"] for w in ready_workers(site, generation=1)) == [0, 1, 2]
    pids: set[int] = set()
    wait_until(lambda: pids.add(site.get("/slow?seconds=0").json()["pid"]) or len(pids) == 3, 20,
               "requests to reach all three workers")
    # A restart keeps the scaled count; `workers` in supervisor.toml stays the default for a new master.
    assert site.cli("restart", "web").returncode == 0
    assert sorted(w["slot"] for w in ready_workers(site, generation=2)) == [0, 1, 2]
    with steady_load(site) as load:
        wait_until(lambda: load.count > 30, 20, "the load to get going")
        down = site.cli("scale", "web", "1")
        assert down.returncode == 0 and down.stdout.strip() == "web: 1 workers (was 3), generation 2", down.stderr
        site.wait_for(lambda: len(site.app_status("web")["workers"]) == 1, 30, "the surplus slots to drain")
        seen_at = load.count
        wait_until(lambda: load.count > seen_at + 30, 20, "more requests on one worker")
        result = load.stop()
    assert result.failures == [], result.failures[:10]
    assert [(w["generation"], w["slot"]) for w in ready_workers(site)] == [(2, 0)]
    assert site.app_status("web")["scaled_workers"] == 1


def test_unknown_apps_and_bad_counts_are_usage_errors(make_site):
    site = make_site(APP)
    for args in (("restart", "nope"), ("stop", "nope"), ("start", "nope"), ("scale", "nope", "2")):
        result = site.cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "no app named 'nope' (apps: web)" in result.stderr
    assert site.cli("scale", "web", "0").returncode == 2
    assert site.cli("scale", "web", "many").returncode == 2  # argparse: N must be a number
    assert site.cli("start", "web", "--detach").returncode == 2

