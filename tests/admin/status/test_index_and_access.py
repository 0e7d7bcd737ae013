"""The apps index links every app's pages; status and metrics are 404 for clients that [admin] does not allow."""

from __future__ import annotations

import re

from tests.admin.status.support import get_from, two_apps

ALLOW_LOOPBACK_ONLY = '\n[admin]\nallow = ["127.0.0.1"]\n'


def test_the_index_lists_both_apps_with_working_links(make_site, tmp_path):
    site = make_site(two_apps(tmp_path / "app"))
    assert site.get("/alpha/whoami").status == 200
    index = site.get("/_pysupervise/").body.decode()
    links = set(re.findall(r'href="([^"]+)"', index))
    for app in ("alpha", "beta"):
        assert {f"/{app}/status", f"/{app}/logs", f"/{app}/debug"} <= links
        row = re.search(rf"<tr><td><b>{app}</b></td>.*?</tr>", index).group(0)
        assert "running" in row and '<td class="num">2/2</td>' in row
        status = site.get(f"/{app}/status")
        assert status.status == 200 and f"{app} · status" in status.body.decode()
        assert site.get(f"/{app}/logs").status == 200
    assert "/_pysupervise/metrics" in links and site.get("/_pysupervise/metrics").status == 200
    def index_apps() -> dict:
        return {a["app"]: a for a in site.get("/_pysupervise/", headers={"Accept": "application/json"}).json()["apps"]}

    # Another front process reports its answers a few times a second.
    apps = site.wait_for(lambda: (found := index_apps())["alpha"]["requests"] == 1 and found, 10, "the request counted")
    assert apps["alpha"]["workers_ready"] == apps["alpha"]["workers"] == 2
    assert apps["beta"]["requests"] == 0
    assert apps["beta"]["status"] == "/beta/status" and apps["beta"]["debug"] == "/beta/debug"


def test_status_and_metrics_are_404_for_a_client_not_allowed(make_site, tmp_path):
    site = make_site(two_apps(tmp_path / "app", ALLOW_LOOPBACK_ONLY), listen="127.0.0.2:0")
    paths = ["/alpha/status", "/alpha/status?format=json", "/alpha/status/events", "/_pysupervise/metrics",
             "/_pysupervise/"]
    for path in paths:
        status, body = get_from("127.0.0.3", site, path, {"X-Forwarded-For": "127.0.0.1"})
        assert status == 404, path
        assert b"pysupervise_" not in body and b"data-pid" not in body
    allowed, _ = get_from("127.0.0.1", site, "/_pysupervise/metrics")
    assert allowed == 200
    public, _ = get_from("127.0.0.3", site, "/alpha/whoami")
    assert public == 200  # only the admin URLs are protected
