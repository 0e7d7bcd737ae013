"""`pysupervise drain` and SIGUSR2 (issue 17 §2): the single-host half of a rolling deploy — health 200, drain,
health 503 at once while every request is still served, the master gone by itself after drain_timeout, start
again, health 200."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys

from tests.bus.servers import free_port
from tests.support.site import Site

HEALTH = "/_pysupervise/health"


def start_site(make_site, drain_timeout: float, port: int) -> Site:
    site = make_site("", start=False)
    site.write_config(f"""
[supervisor]
run_dir = "{site.run_dir}"
log_dir = "{site.log_dir}"
drain_timeout = {drain_timeout}

[apps.web]
app = "web:create_app"
dir = "{{apps}}"
route = "/"
workers = 1
""")
    return site.start(listen=f"127.0.0.1:{port}")


def health(site: Site) -> tuple[int, dict]:
    response = site.get(HEALTH)
    return response.status, response.json()


def drain_command(site: Site) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pysupervise", "drain", "-c", str(site.config_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=site.workdir)


def test_drain_turns_health_503_serves_on_then_stops_and_a_new_start_is_healthy(make_site):
    port = free_port()
    site = start_site(make_site, 4, port)
    assert health(site)[0] == 200
    kept = http.client.HTTPConnection(site.host, site.port, timeout=10)  # a balancer's pooled connection
    drainer = drain_command(site)
    try:
        kept.request("GET", "/whoami")
        assert kept.getresponse().read()
        site.wait_for(lambda: health(site)[0] == 503, 10, "the health page to turn 503")
        assert site.process.poll() is None, "the master must serve on while the balancers notice"
        assert health(site)[1] == {"status": "unavailable", "host": site.status()["host_id"], "reasons": ["draining"],
                                   "apps": {"web": True}}
        # Everything still routed here is served: new connections and the kept one alike.
        assert site.get("/whoami").status == 200
        kept.request("GET", "/whoami")
        response = kept.getresponse()
        assert response.status == 200 and json.loads(response.read())["app"] == "web"
        assert site.process.poll() is None
        # No stop asked: the master goes by itself once drain_timeout has passed.
        assert site.process.wait(timeout=60) == 0
        output, _ = drainer.communicate(timeout=30)
    finally:
        kept.close()
        if drainer.poll() is None:
            drainer.kill()
            drainer.wait()
    assert drainer.returncode == 0, output
    assert "draining: the health page answers 503" in output and "stopped in" in output, output
    assert "pysupervise draining (pysupervise drain)" in site.output_text()

    # The other half of the deploy step: start again on the same address, wait for health.
    site.url = ""
    site.start(listen=f"127.0.0.1:{port}")
    site.wait_for(lambda: health(site)[0] == 200, 30, "the new master's health page to answer 200")


def test_sigusr2_drains_like_the_command_and_status_says_so(make_site):
    site = start_site(make_site, 3, free_port())
    site.process.send_signal(signal.SIGUSR2)
    site.wait_for(lambda: health(site)[0] == 503, 10, "the health page to turn 503")
    status = site.cli("status")
    assert "health page: 503 (draining); the master stops in" in status.stdout, status.stdout
    assert site.status()["health"]["state"] == "draining"
    assert site.get("/whoami").status == 200
    assert site.process.wait(timeout=60) == 0
    assert "pysupervise draining (SIGUSR2)" in site.output_text()


def test_stop_during_a_drain_stops_at_once_and_the_drain_command_reports_it(make_site):
    site = start_site(make_site, 600, free_port())
    drainer = drain_command(site)
    try:
        site.wait_for(lambda: health(site)[0] == 503, 10, "the health page to turn 503")
        stopped = site.cli("stop")
        assert stopped.returncode == 0, stopped.stderr
        assert site.process.wait(timeout=30) == 0
        output, _ = drainer.communicate(timeout=30)
    finally:
        if drainer.poll() is None:
            drainer.kill()
            drainer.wait()
    assert drainer.returncode == 0 and "stopped in" in output, output
