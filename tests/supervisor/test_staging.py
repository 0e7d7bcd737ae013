"""Staging and production folders of one app, swapped without downtime (issue 17 §3)."""

from __future__ import annotations

import http.client
import json
import signal
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pysupervise.config import parse_config
from pysupervise.supervisor.service.control import ControlClient
from pysupervise.supervisor.staging.sides import partner_folders
from tests.support.frozen import frozen
from tests.support.poll import wait_until
from tests.support.site import Site

# One app, two folders: each copy says which version and folder answered, and the prefix it is mounted at.
VERSION_APP = '''
"""Says which folder answered, and where it is mounted; /slow?seconds=N takes its time."""
import asyncio
import json
import os

VERSION = "{version}"


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({{"type": message["type"] + ".complete"}})
            if message["type"] == "lifespan.shutdown":
                return
    query = dict(part.split("=", 1) for part in scope["query_string"].decode().split("&") if "=" in part)
    if scope["path"].endswith("/slow"):
        await asyncio.sleep(float(query.get("seconds", "1")))
    body = json.dumps({{"version": VERSION, "folder": os.getcwd(), "root_path": scope.get("root_path", ""),
                       "app": os.environ["PYSUPERVISE_APP"], "pid": os.getpid()}}).encode()
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}})
    await send({{"type": "http.response.body", "body": body}})
'''

SITE = """
[apps.shop]
app = "version_app:app"
dir = "shop"
route = "/shop"
workers = 2
graceful_timeout = 20
static = {{ "/shop/assets" = "public" }}
staging = {{ dir = "shop-next", {where} }}
"""


def folders(workdir: Path, staging_code: str | None = None) -> tuple[Path, Path]:
    production, staging = workdir / "shop", workdir / "shop-next"
    for folder, version in ((production, "v1"), (staging, "v2")):
        (folder / "public").mkdir(parents=True)
        (folder / "public" / "version.txt").write_text(version)
        (folder / "version_app.py").write_text(textwrap.dedent(VERSION_APP.format(version=version)))
    if staging_code is not None:
        (staging / "version_app.py").write_text(staging_code)
    return production.resolve(), staging.resolve()


def staged_site(make_site, tmp_path: Path, where: str = 'route = "/shop-staging"',
                staging_code: str | None = None) -> tuple[Site, Path, Path]:
    site = make_site(SITE.format(where=where), start=False)
    production, staging = folders(site.workdir, staging_code)
    return site.start(), production, staging


def answer(site: Site, path: str, **kwargs) -> dict:
    response = site.get(path, **kwargs)
    assert response.status == 200, (path, response.status, response.text)
    return response.json()


def side(site: Site, name: str) -> dict:
    return site.app_status(name)


@dataclass
class Hammer:
    """Client loops on keep-alive connections that record (sent, received, version) of every answer, in order."""

    site: Site
    path: str
    loops: int = 4
    # A new connection per request, so that each loop's requests spread over every front process.
    fresh: bool = False
    answers: list[tuple[float, float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # The front processes that answered (each numbers its requests under a prefix of its own).
    fronts: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> "Hammer":
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(self.loops)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _loop(self) -> None:
        connection = http.client.HTTPConnection(self.site.host, self.site.port, timeout=30)
        try:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    connection.request("GET", self.path)
                    response = connection.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    connection.close()
                    continue
                if response.status != 200:
                    self.failures.append(f"{response.status} {body[:200]!r}")
                    continue
                self.answers.append((sent, time.monotonic(), json.loads(body)["version"]))
                self.fronts.add(response.getheader("X-Request-Id", "").split("-")[0])
                if self.fresh:
                    connection.close()
        finally:
            connection.close()

    def count(self, version: str) -> int:
        return sum(1 for answer in list(self.answers) if answer[2] == version)

    def assert_one_step(self, new_version: str) -> None:
        """Once an answer came from `new_version`, no request sent after it got another version."""
        first_new = min(received for _sent, received, version in self.answers if version == new_version)
        assert [a for a in self.answers if a[0] > first_new and a[2] != new_version] == []


def test_swap_moves_production_to_the_warm_staging_folder_in_one_step_and_back(make_site, tmp_path):
    site, production, staging = staged_site(make_site, tmp_path)
    before = answer(site, "/shop/")
    assert (before["version"], before["folder"], before["root_path"], before["app"]) == \
        ("v1", str(production), "/shop", "shop")
    staged = answer(site, "/shop-staging/")
    # Its own workers, the same app for sessions and the bus; mounted at its own route.
    assert (staged["version"], staged["folder"], staged["root_path"], staged["app"]) == \
        ("v2", str(staging), "/shop-staging", "shop")
    staging_pids = {w["pid"] for w in side(site, "shop~staging")["workers"]}
    assert side(site, "shop")["side"]["role"] == "production"
    assert side(site, "shop")["side"]["live_folder"] == str(production)
    assert side(site, "shop~staging")["side"]["role"] == "staging"
    assert (site.log_dir / "shop~staging").is_dir()
    # Static prefixes are absolute URLs: on production's host they are production's.
    assert site.get("/shop/assets/version.txt").text == "v1"

    # A long request starts on production before the swap.
    long_answer: dict = {}
    long_request = threading.Thread(target=lambda: long_answer.update(answer(site, "/shop/slow?seconds=3")))
    long_request.start()
    try:
        site.wait_for(lambda: any(w["in_flight"] for w in side(site, "shop")["workers"]), 10,
                      "the long request to reach production")
        with Hammer(site, "/shop/") as hammer:
            wait_until(lambda: hammer.count("v1") > 50, 20, "the clients to get going")
            swapped = site.cli("swap", "shop")
            assert swapped.returncode == 0, swapped.stdout + swapped.stderr
            assert swapped.stdout.strip() == (
                f"shop: production now runs from {staging} (shop~staging, generation 1); {production} is staging "
                "at /shop-staging; swap again to roll back")
            wait_until(lambda: hammer.count("v2") > 50, 20, "answers from the new production")
    finally:
        long_request.join(30)
    assert hammer.failures == [], hammer.failures[:10]
    hammer.assert_one_step("v2")
    assert long_answer["version"] == "v1"

    after = answer(site, "/shop/")
    assert (after["version"], after["folder"], after["root_path"]) == ("v2", str(staging), "/shop")
    assert after["pid"] in staging_pids  # the warm workers, not new ones
    assert answer(site, "/shop-staging/")["root_path"] == "/shop-staging"
    assert answer(site, "/shop-staging/")["version"] == "v1"
    status = side(site, "shop~staging")
    assert status["side"]["role"] == "production" and status["side"]["live_folder"] == str(staging)
    assert status["route"] == ["/shop"] and status["generation"] == 1
    assert site.get("/shop/assets/version.txt").text == "v2"
    assert json.loads((site.run_dir / "swapped-apps.json").read_text()) == ["shop"]
    table = site.cli("status").stdout
    assert f"shop: live folder {staging} (shop~staging); staging folder {production} (shop, running)" in table

    # A second swap is an instant rollback.
    back = site.cli("swap", "shop~staging")
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"production now runs from {production} (shop, generation 1)" in back.stdout
    assert answer(site, "/shop/")["version"] == "v1" and answer(site, "/shop-staging/")["version"] == "v2"
    assert json.loads((site.run_dir / "swapped-apps.json").read_text()) == []


TWO_FRONTS = "\n[proxy]\nprocesses = 2\n"


def two_front_site(make_site) -> tuple[Site, int]:
    """The staged site with a second front process; the front's pid."""
    site = make_site(SITE.format(where='route = "/shop-staging"') + TWO_FRONTS, start=False)
    folders(site.workdir)
    site.start()
    (front,) = site.status()["proxy"]["fronts"]
    return site, front["pid"]


def swap_in_background(site: Site) -> tuple[threading.Thread, dict]:
    """`swap shop` straight on the control socket (no CLI start-up in the timing): the reply and when it came."""
    result: dict = {}

    def swap() -> None:
        result["reply"] = ControlClient(site.run_dir / "control.sock").call("swap", app="shop")
        result["at"] = time.monotonic()

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    return thread, result


def test_a_swap_switches_every_front_process_in_one_step(make_site):
    """[proxy] processes = 2: no front routes by the new table before every front has stopped routing by the old
    one, so the swap waits for a front that cannot hear of it yet (frozen here), the clients of both fronts see one
    step, and the swap answers once every front routes by the new table."""
    site, front_pid = two_front_site(make_site)
    with Hammer(site, "/shop/", fresh=True) as hammer:
        site.wait_for(lambda: len(hammer.fronts) == 2 and hammer.count("v1") > 50, 30, "answers from both fronts")
        with frozen(front_pid):
            swapping, result = swap_in_background(site)
            swapping.join(0.3)
            assert swapping.is_alive(), f"the swap answered while a front could not switch: {result}"
            thawed = time.monotonic()
        swapping.join(30)
        site.wait_for(lambda: hammer.count("v2") > 50, 30, "answers from the new production")
    assert result["reply"]["ok"] and result["reply"]["late_fronts"] == [], result
    assert result["at"] > thawed
    assert hammer.failures == [], hammer.failures[:10]
    hammer.assert_one_step("v2")
    assert len(hammer.fronts) == 2


def test_a_swap_waits_only_so_long_for_a_stuck_front_which_switches_when_it_wakes(make_site):
    site, front_pid = two_front_site(make_site)
    with frozen(front_pid):
        swapped = site.cli("swap", "shop")
        assert swapped.returncode == 0, swapped.stdout + swapped.stderr
        assert "pysupervise: front process(es) 1 did not confirm the new routes in time (stuck?)" in swapped.stderr
        assert "production now runs from" in swapped.stdout
    seen: set[tuple[str, str]] = set()
    for _ in range(40):  # fresh connections: the kernel spreads them over both fronts
        response = site.get("/shop/")
        assert response.status == 200, response.text
        seen.add((response.header("X-Request-Id").split("-")[0], response.json()["version"]))
    assert {version for _front, version in seen} == {"v2"} and len(seen) == 2, seen


def test_the_swap_survives_a_master_restart(make_site, tmp_path):
    site, _production, staging = staged_site(make_site, tmp_path)
    assert site.cli("swap", "shop").returncode == 0
    site.process.send_signal(signal.SIGTERM)
    site.process.wait(30)
    site.url = ""
    site.start()
    # start() returns at the "listening" line; the startup notes are printed just after it.
    note = f"app 'shop' serves production from {staging} (shop~staging), as swapped before"
    site.wait_for(lambda: note in site.output_text(), 10, "the startup note about the swap")
    assert answer(site, "/shop/")["version"] == "v2" and answer(site, "/shop-staging/")["version"] == "v1"
    assert side(site, "shop")["side"]["live_folder"] == str(staging)

    # Without its staging table, the app's own folder serves production again, and the swap is forgotten.
    site.write_config(SITE.format(where='route = "/shop-staging"').replace("staging = {", "# staging = {"))
    site.wait_for(lambda: [a["app"] for a in site.status()["apps"]] == ["shop"], 30, "the staging side to go")
    assert answer(site, "/shop/")["version"] == "v1" and "side" not in side(site, "shop")
    assert json.loads((site.run_dir / "swapped-apps.json").read_text()) == []


def test_a_swap_to_a_broken_staging_folder_is_refused(make_site, tmp_path):
    site, production, staging = staged_site(make_site, tmp_path, staging_code="raise RuntimeError('v2 is broken')\n")
    site.wait_for(lambda: side(site, "shop~staging")["state"] == "failed", 30, "the staging side to fail")
    assert "v2 is broken" in site.cli("logs", "shop~staging", "--stderr").stdout
    refused = site.cli("swap", "shop")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"the staging side shop~staging ({staging}) has no ready workers (failed: " in refused.stderr
    assert f"production stays on {production}" in refused.stderr
    assert answer(site, "/shop/")["version"] == "v1"
    assert side(site, "shop")["side"]["live_folder"] == str(production)
    assert not (site.run_dir / "swapped-apps.json").exists()
    assert site.cli("swap", "nope").returncode == 2


def test_a_save_in_the_staging_folder_reloads_only_the_staging_side(make_site, tmp_path):
    site, production, staging = staged_site(make_site, tmp_path)
    (staging / "version_app.py").write_text(textwrap.dedent(VERSION_APP.format(version="v3")))
    site.wait_for(lambda: answer(site, "/shop-staging/")["version"] == "v3", 30, "the staging side to reload")
    assert side(site, "shop~staging")["generation"] == 2
    events = (site.log_dir / "shop" / "events.log").read_text()
    assert "file changed" not in events and side(site, "shop")["generation"] == 1
    assert answer(site, "/shop/")["version"] == "v1"
    # A staging side stopped by the operator has nothing to take production with.
    assert site.cli("stop", "shop~staging").returncode == 0
    refused = site.cli("swap", "shop")
    assert refused.returncode == 1 and "has no ready workers (stopped by the operator)" in refused.stderr


def test_staging_by_host_answers_only_requests_that_name_it(make_site, tmp_path):
    site, production, staging = staged_site(make_site, tmp_path, where='host = "staging.example"')
    staging_host = {"Host": "staging.example"}
    assert answer(site, "/shop/")["version"] == "v1"
    on_staging = answer(site, "/shop/", headers=staging_host)
    assert (on_staging["version"], on_staging["root_path"]) == ("v2", "/shop")
    assert site.get("/shop/assets/version.txt", headers=staging_host).text == "v2"
    assert site.get("/shop-staging/").status == 404
    assert site.cli("swap", "shop").returncode == 0
    assert answer(site, "/shop/")["version"] == "v2"
    assert answer(site, "/shop/", headers=staging_host)["version"] == "v1"
    assert site.get("/shop/assets/version.txt").text == "v2"
    assert site.get("/shop/assets/version.txt", headers=staging_host).text == "v1"


def test_the_status_pages_say_which_folder_is_live(make_site, tmp_path):
    site, production, staging = staged_site(make_site, tmp_path)
    assert site.cli("swap", "shop").returncode == 0
    json_page = site.get("/shop/status", headers={"Accept": "application/json"}).json()
    assert json_page["side"]["role"] == "staging" and json_page["route"] == ["/shop-staging"]
    assert json_page["side"]["live_folder"] == str(staging) and json_page["side"]["other"] == "shop~staging"
    page = site.get("/shop/status").text
    assert "live folder" in page and str(staging) in page and ">staging</span>" in page
    assert ">production</span>" in site.get("/shop~staging/status").text
    index = site.get("/_pysupervise/").text
    assert "<b>shop~staging</b> <small>production</small>" in index
    assert site.get("/shop~staging/logs").status == 200 and site.get("/shop~staging/debug/").status == 200


def test_a_staging_folder_inside_the_apps_own_is_watched_as_the_staging_sides_only(tmp_path):
    for folder in ("shop/next", "shop/other"):
        (tmp_path / folder).mkdir(parents=True)
    config = parse_config('[supervisor]\nrun_dir = "/tmp/ps-staging"\n'
                          '[apps.shop]\napp = "m:app"\ndir = "shop"\nstaging = { dir = "shop/next", route = "/s" }\n'
                          '[apps.other]\napp = "m:app"\ndir = "shop/other"\nroute = "/o"\n',
                          tmp_path / "supervisor.toml", "supervisor.toml")
    shop, staged, other = config.apps
    assert partner_folders(shop, config.apps) == (staged.dir,)
    assert partner_folders(staged, config.apps) == () and partner_folders(other, config.apps) == ()
