"""The bus and cache as hosted apps see them, through a real master (issue 6)."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.request

from tests.support.poll import wait_until

APP = """
[apps.bus]
app = "bus_app:create_app"
dir = "{apps}"
route = "/"
workers = 4
"""


def test_four_workers_each_receive_every_channel_message_exactly_once(make_site):
    site = make_site(APP)
    pids = [w["pid"] for w in site.app_status("bus")["workers"]]
    assert len(pids) == 4
    first = site.get("/publish?message=m-0").json()
    assert first["subscribers"] == 4
    for n in range(1, 20):
        site.get(f"/publish?message=m-{n}")
    logs = site.log_dir / "bus"

    def received_by(pid: int) -> list[str]:
        text = "".join(p.read_text() for p in logs.glob(f"*-{pid}-stdout-*.log"))
        return re.findall(r"received (m-\d+) in", text)

    wait_until(lambda: all(len(received_by(pid)) >= 20 for pid in pids), 15, "every worker to get 20 messages")
    for pid in pids:
        assert sorted(received_by(pid)) == sorted(f"m-{n}" for n in range(20))  # each once, none twice


def test_session_counter_survives_other_workers_and_a_hot_reload(make_site):
    site = make_site(APP)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def count() -> dict:
        with opener.open(site.url + "/count", timeout=10) as response:
            return __import__("json").loads(response.read())

    seen = [count() for _ in range(12)]
    assert [s["n"] for s in seen] == list(range(1, 13))
    assert len({s["pid"] for s in seen}) >= 2  # several workers shared the one session
    reload = site.cli("reload", "bus")
    assert reload.returncode == 0, reload.stdout + reload.stderr
    after = count()
    assert after["n"] == 13 and after["generation"] == "2"
    assert after["pid"] not in {s["pid"] for s in seen}
