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
staging = {{ dir = "shop-next", {where} }}
"""


def folders(workdir: Path, staging_code: str | None = None) -> tuple[Path, Path]:
    production, staging = workdir / "shop", workdir / "shop-next"
    for folder, version in ((production, "v1"), (staging, "v2")):
        folder.mkdir()
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
    answers: list[tuple[float, float, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
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
        finally:
            connection.close()

    def count(self, version: str) -> int:
        return sum(1 for answer in list(self.answers) if answer[2] == version)


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
    # One step: once an answer came from v2, no request sent after it got v1.
    first_v2 = min(received for _sent, received, version in hammer.answers if version == "v2")
    assert [a for a in hammer.answers if a[0] > first_v2 and a[2] == "v1"] == []
    assert long_answer["version"] == "v1"

    after = answer(site, "/shop/")
    assert (after["version"], after["folder"], after["root_path"]) == ("v2", str(staging), "/shop")
    assert after["pid"] in staging_pids  # the warm workers, not new ones
    assert answer(site, "/shop-staging/")["root_path"] == "/shop-staging"
    assert answer(site, "/shop-staging/")["version"] == "v1"
    status = side(site, "shop~staging")
    assert status["side"]["role"] == "production" and status["side"]["live_folder"] == str(staging)
    assert status["route"] == ["/shop"] and status["generation"] == 1
    assert json.loads((site.run_dir / "swapped-apps.json").read_text()) == ["shop"]
    table = site.cli("status").stdout
    assert f"shop: live folder {staging} (shop~staging); staging folder {production} (shop, running)" in table

    # A second swap is an instant rollback.
    back = site.cli("swap", "shop~staging")
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"production now runs from {production} (shop, generation 1)" in back.stdout
    assert answer(site, "/shop/")["version"] == "v1" and answer(site, "/shop-staging/")["version"] == "v2"
    assert json.loads((site.run_dir / "swapped-apps.json").read_text()) == []


def test_the_swap_survives_a_master_restart(make_site, tmp_path):
    site, _production, staging = staged_site(make_site, tmp_path)
    assert site.cli("swap", "shop").returncode == 0
    site.process.send_signal(signal.SIGTERM)
    site.process.wait(30)
    site.url = ""
    site.start()
    assert f"app 'shop' serves production from {staging} (shop~staging), as swapped before" in site.output_text()
    assert answer(site, "/shop/")["version"] == "v2" and answer(site, "/shop-staging/")["version"] == "v1"
    assert side(site, "shop")["side"]["live_folder"] == str(staging)


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


def test_staging_by_host_answers_only_requests_that_name_it(make_site, tmp_path):
    site, production, staging = staged_site(make_site, tmp_path, where='host = "staging.example"')
    assert answer(site, "/shop/")["version"] == "v1"
    on_staging = answer(site, "/shop/", headers={"Host": "staging.example"})
    assert (on_staging["version"], on_staging["root_path"]) == ("v2", "/shop")
    assert site.get("/shop-staging/").status == 404
    assert site.cli("swap", "shop").returncode == 0
    assert answer(site, "/shop/")["version"] == "v2"
    assert answer(site, "/shop/", headers={"Host": "staging.example"})["version"] == "v1"
