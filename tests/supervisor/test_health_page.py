"""What load balancers and the operator need from each host (issue 17 §2): the health page, the admin pages
behind a balancer and on a second address, and the host's identity everywhere it shows.

Real masters, real sockets: the health page is read through the proxy as a balancer would read it.
"""

from __future__ import annotations

import http.client
import json
import re

import pytest

from tests.admin.status.support import get_from
from tests.bus.servers import RedisServer, free_port
from tests.support.site import Site

HEALTH = "/_pysupervise/health"
# 127.0.0.1 is the one admin address; 127.0.0.3 a client that is not admin; 127.0.0.5 a trusted balancer.
CONFIG = """
[supervisor]
run_dir = "{run_dir}"
log_dir = "{log_dir}"
host_id = "edge-1"

[admin]
allow = ["127.0.0.1/32"]

[apps.api]
app = "paths_app:create_app"
dir = "{apps}"
route = "/"
workers = 1
"""


def site_config(site_dir_config: str, site: Site) -> str:
    return site_dir_config.replace("{run_dir}", str(site.run_dir)).replace("{log_dir}", str(site.log_dir))


def make(make_site, text: str, **start_args) -> Site:
    site = make_site(text, start=False)
    site.write_config(site_config(text, site))
    return site.start(**start_args)


def health(site: Site, source: str = "127.0.0.1", headers: dict | None = None) -> tuple[int, dict]:
    status, body = get_from(source, site, HEALTH, headers)
    return status, json.loads(body)


def test_health_is_200_with_a_short_json_when_every_app_is_ready(make_site):
    site = make(make_site, CONFIG)
    response = site.get(HEALTH)
    assert response.status == 200
    assert response.json() == {"status": "ok", "host": "edge-1", "reasons": [], "apps": {"api": True}}
    assert response.header("Content-Type") == "application/json"
    assert response.header("Cache-Control") == "no-store" and response.header("X-Request-Id")
    head = site.request("HEAD", HEALTH)
    assert head.status == 200 and head.body == b"" and head.header("Content-Length") == str(len(response.body))
    assert site.request("POST", HEALTH).status == 405


def test_health_is_open_to_health_allow_and_opens_no_other_admin_page(make_site):
    site = make(make_site, CONFIG)
    # Not an admin client, naming a host that is not the site's (a balancer probing by IP or any name).
    assert health(site, "127.0.0.3", {"Host": "lb-probe.example"}) == (200, {
        "status": "ok", "host": "edge-1", "reasons": [], "apps": {"api": True}})
    for page in ("/_pysupervise/", "/_pysupervise/metrics", "/api/logs"):
        status, body = get_from("127.0.0.3", site, page)
        assert status == 200 and json.loads(body)["path"] == page, f"{page} must stay the app's"
    # The query string does not change the page; a longer path is the app's.
    assert get_from("127.0.0.3", site, HEALTH + "?probe=1")[0] == 200
    assert json.loads(get_from("127.0.0.3", site, HEALTH + "z")[1])["path"] == HEALTH + "z"


def test_health_allow_restricts_the_page_and_admin_clients_always_get_it(make_site):
    site = make(make_site, CONFIG.replace('[admin]\n', '[admin]\nhealth_allow = ["127.0.0.4/32"]\n'))
    assert health(site, "127.0.0.4")[0] == 200
    status, body = get_from("127.0.0.3", site, HEALTH)
    assert status == 200 and json.loads(body)["path"] == HEALTH, "the app's page for everyone else"
    assert health(site, "127.0.0.1") == (200, {"status": "ok", "host": "edge-1", "reasons": [], "apps": {"api": True}})


def test_health_and_metrics_through_a_trusted_balancer(make_site):
    config = CONFIG.replace('allow = ["127.0.0.1/32"]', 'allow = ["10.9.8.7/32"]\nhealth_allow = ["10.9.0.0/16"]')
    site = make(make_site, config + '\n[proxy]\ntrusted_proxies = ["127.0.0.5/32"]\n')
    admin_client = {"X-Forwarded-For": "10.9.8.7", "Host": "127.0.0.1"}
    status, body = get_from("127.0.0.5", site, "/_pysupervise/metrics", admin_client)
    assert status == 200 and 'pysupervise_workers{host="edge-1",app="api",state="ready"} 1' in body.decode()
    assert health(site, "127.0.0.5", {"X-Forwarded-For": "10.9.1.1"})[0] == 200
    # A client the balancer vouches for that is in neither list gets the app, for both pages.
    for page in ("/_pysupervise/metrics", HEALTH):
        status, body = get_from("127.0.0.5", site, page, {"X-Forwarded-For": "192.0.2.1"})
        assert json.loads(body)["path"] == page
    # The balancer's own address is in neither list either: only the client it forwards counts.
    assert json.loads(get_from("127.0.0.5", site, HEALTH)[1])["path"] == HEALTH


def test_health_is_503_while_an_app_has_no_ready_workers_but_not_for_an_app_the_operator_stopped(make_site):
    broken = '\n[apps.broken]\napp = "no_such_module_here:app"\ndir = "{apps}"\nroute = "/broken"\nworkers = 1\n'
    site = make(make_site, CONFIG + broken)
    status, body = health(site)
    assert status == 503 and body["status"] == "unavailable" and body["apps"] == {"api": True, "broken": False}
    assert body["reasons"] == ["app broken has no ready workers (failed)"]
    assert site.status()["health"]["reasons"] == body["reasons"]
    assert "health page: 503 (app broken has no ready workers (failed))" in site.cli("status").stdout
    stopped = site.cli("stop", "broken")
    assert stopped.returncode == 0, stopped.stderr
    assert health(site) == (200, {"status": "ok", "host": "edge-1", "reasons": [],
                                  "apps": {"api": True, "broken": False}})


def test_health_is_503_while_the_bus_does_not_answer(make_site):
    redis = RedisServer(free_port())
    config = CONFIG + f'\n[services]\nbus = "{redis.url}"\n'
    try:
        site = make(make_site, config)  # Redis is not running yet
        status, body = health(site)
        assert status == 503 and body["reasons"] == ["the bus does not answer"]
        assert str(redis.port) not in json.dumps(body), "where the bus lives is for status, not for every client"
        assert str(redis.port) in site.status()["health"]["bus_problem"]
        redis.start()
        site.wait_for(lambda: health(site)[0] == 200, 15, "the health page to see the bus answer")
        redis.stop()
        site.wait_for(lambda: health(site) == (503, {"status": "unavailable", "host": "edge-1",
                                                     "reasons": ["the bus does not answer"], "apps": {"api": True}}),
                      15, "the health page to see the bus stop answering")
    finally:
        redis.stop()


def test_admin_pages_on_admin_listen_when_listen_is_not_for_loopback_clients(make_site):
    config = CONFIG.replace('host_id = "edge-1"', 'host_id = "edge-1"\nadmin_listen = "127.0.0.1:0"')
    site = make(make_site, config, listen="127.0.0.2:0")
    admin_url = site.status()["admin_url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", admin_url) and f"admin index: {admin_url}/_pysupervise/" in \
        site.output_text()
    admin_port = int(admin_url.rsplit(":", 1)[1])
    # The site's own address takes no client from 127.0.0.1 as admin: [admin] allow is 127.0.0.1/32 only, and a
    # client of 127.0.0.2 comes from 127.0.0.2.
    status, body = get_from("127.0.0.2", site, "/_pysupervise/")
    assert json.loads(body)["path"] == "/_pysupervise/"
    for page, expected in (("/_pysupervise/", "api"), ("/_pysupervise/metrics", 'host="edge-1"'),
                           (HEALTH, '"status":"ok"')):
        conn = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
        try:
            conn.request("GET", page)
            response = conn.getresponse()
            assert response.status == 200 and expected in response.read().decode(), page
        finally:
            conn.close()


def test_admin_listen_auto_adds_nothing_where_listen_takes_loopback_clients(make_site):
    site = make(make_site, CONFIG, listen="127.0.0.2:0")
    assert site.status()["admin_url"] is None


@pytest.mark.parametrize("bound, reaches", [("0.0.0.0", True), ("::", True), ("127.0.0.2", True), ("::1", True),
                                            ("::ffff:127.0.0.1", True), ("10.0.0.5", False),
                                            ("fe80::1%eth0", False), ("2001:db8::1", False)])
def test_admin_listen_auto_binds_loopback_only_for_addresses_loopback_clients_cannot_reach(bound, reaches):
    from pysupervise.supervisor.service.admin_address import reaches_loopback

    assert reaches_loopback(bound) is reaches


def test_host_id_in_the_worker_header_events_status_metrics_and_the_worker_environment(make_site):
    site = make(make_site, CONFIG.replace('route = "/"', 'route = "/"\ndebug_header = true'))
    response = site.get("/anything")
    assert response.header("X-Pysupervise-Worker") == "edge-1/api/1/0"
    events = (site.log_dir / "api" / "events.log").read_text().splitlines()
    assert events and all(line.endswith(" host_id=edge-1") for line in events if not line.startswith("    ")), events
    assert site.status()["host_id"] == "edge-1"
    assert "on host edge-1" in site.cli("status").stdout.splitlines()[0]
    metrics = site.get("/_pysupervise/metrics").text
    samples = [line for line in metrics.splitlines() if line and not line.startswith("#")]
    assert samples and all('{host="edge-1"' in line for line in samples)


def test_workers_get_the_host_id_and_it_defaults_to_the_hostname(make_site):
    import socket

    site = make_site("""
        [apps.web]
        app = "web:create_app"
        dir = "{apps}"
        route = "/"
        workers = 1
        """)
    expected = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:63].lstrip("._-") or "localhost"
    assert site.status()["host_id"] == expected
    assert site.get("/whoami").json()["host"] == expected


def test_an_app_with_a_staging_folder_counts_by_its_production_side(make_site, tmp_path):
    from tests.supervisor.test_staging import staged_site

    # A build in staging that cannot start: the host still serves production, so the balancer keeps it.
    site, _production, _staging = staged_site(make_site, tmp_path, staging_code="raise SystemExit(3)\n")
    site.wait_for(lambda: site.app_status("shop~staging")["state"] == "failed", 30, "the staging side to fail")
    assert health(site) == (200, {"status": "ok", "host": site.status()["host_id"], "reasons": [],
                                  "apps": {"shop": True}})


def test_after_a_swap_the_production_side_is_the_one_that_counts(make_site, tmp_path):
    from tests.supervisor.test_staging import staged_site

    site, _production, _staging = staged_site(make_site, tmp_path)
    swapped = site.cli("swap", "shop")
    assert swapped.returncode == 0, swapped.stderr
    assert health(site)[1]["apps"] == {"shop": True}
    stopped = site.cli("stop", "shop")  # the side that serves staging now: not the host's health
    assert stopped.returncode == 0, stopped.stderr
    assert health(site) == (200, {"status": "ok", "host": site.status()["host_id"], "reasons": [],
                                  "apps": {"shop": True}})
    stopped = site.cli("stop", "shop~staging")  # production now: stopped by the operator, shown, not a fault
    assert stopped.returncode == 0, stopped.stderr
    assert health(site)[1]["apps"] == {"shop": False} and health(site)[0] == 200
