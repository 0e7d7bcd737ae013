"""Zero-downtime hot reload and the worker lifecycle (issue 4)."""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.support.load import LoadGenerator
from tests.support.poll import wait_until
from tests.support.site import Site

APP_SOURCE = '''
import asyncio
import os
import time

from aiohttp import web

VERSION = "{version}"
{extra}


async def version(request):
    return web.json_response({{"version": VERSION, "pid": os.getpid(),
                              "generation": os.environ["PYSUPERVISE_GENERATION"]}})


async def echo(request):
    return web.json_response({{"version": VERSION, "echo": (await request.read()).decode()}})


async def slow(request):
    await asyncio.sleep(float(request.query.get("seconds", "3")))
    return web.json_response({{"version": VERSION, "pid": os.getpid()}})


async def hang(request):
    time.sleep(3600)  # blocks the worker's event loop: it will never answer anything again


async def grow(request):
    request.app["ballast"] = bytearray(int(request.query["mb"]) * 1024 * 1024)
    return web.json_response({{"version": VERSION, "pid": os.getpid()}})


async def websocket(request):
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(VERSION + ":" + message.data)
    return ws


def create_app():
    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_post("/echo", echo)
    app.router.add_get("/slow", slow)
    app.router.add_get("/hang", hang)
    app.router.add_get("/grow", grow)
    app.router.add_get("/ws", websocket)
    return app
'''


def write_app(folder: Path, version: str, extra: str = "") -> None:
    folder.mkdir(exist_ok=True)
    (folder / "live_app.py").write_text(APP_SOURCE.format(version=version, extra=extra))


def app_config(folder: Path, **settings) -> str:
    settings = {"workers": 2, "graceful_timeout": 3, **settings}
    lines = "\n".join(f"{key} = {value}" for key, value in settings.items())
    return f"""
[apps.live]
app = "live_app:create_app"
dir = "{folder}"
route = "/"
{lines}
"""


@pytest.fixture
def app_dir(tmp_path) -> Path:
    folder = tmp_path / "app"
    write_app(folder, "v0")
    return folder


def generation(site: Site) -> int | None:
    return site.app_status("live")["generation"]


def wait_generation(site: Site, number: int, timeout: float = 30) -> None:
    site.wait_for(lambda: generation(site) == number, timeout, f"generation {number} to serve")


def events(site: Site) -> str:
    return (site.log_dir / "live" / "events.log").read_text()


def test_twenty_saves_under_load_fail_no_request_and_switch_the_code(make_site, app_dir):
    site = make_site(app_config(app_dir))
    with LoadGenerator(site.url) as load:
        wait_until(lambda: load.count > 50, 20, "the load to get going")
        for n in range(1, 21):
            write_app(app_dir, f"v{n:02d}")  # same-length saves, often within the same second
            wait_generation(site, n + 1)
            seen_at = load.count
            wait_until(lambda: load.count > seen_at + 5, 20, "more load after the switch")
        result = load.stop()
    assert result.failures == [], result.failures[:10]
    assert result.ok > 200
    # Answers move from one version to the next and never go back to an older generation's code.
    order = ["v0"] + [f"v{n:02d}" for n in range(1, 21)]
    positions = [order.index(v) for v in result.versions]
    assert positions[0] == 0 and positions[-1] == 20
    first_seen = {}
    for i, p in enumerate(positions):
        first_seen.setdefault(p, i)
    assert sorted(first_seen) == sorted(set(positions))
    assert "reload-switched generation=21" in events(site)


def test_request_started_before_a_save_completes_with_the_old_code(make_site, app_dir):
    site = make_site(app_config(app_dir))

    async def scenario() -> dict:
        async with aiohttp.ClientSession() as session:
            slow = asyncio.ensure_future(session.get(site.url + "/slow?seconds=3"))
            await asyncio.to_thread(site.wait_for, lambda: any(w["in_flight"] for w in site.app_status("live")
                                                               ["workers"]), 10, "the slow request in flight")
            write_app(app_dir, "v1")
            await asyncio.to_thread(wait_generation, site, 2)
            async with session.get(site.url + "/version") as fresh:
                assert (await fresh.json())["version"] == "v1"
            response = await slow
            return await response.json()

    assert asyncio.run(scenario())["version"] == "v0"
    assert "drain-finished generation=1" in wait_until(
        lambda: "drain-finished generation=1" in events(site) and events(site), 20, "the old generation to drain")


def test_websocket_keeps_working_until_the_drain_deadline_then_is_closed_cleanly(make_site, app_dir):
    site = make_site(app_config(app_dir))

    async def scenario() -> tuple:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(site.url + "/ws") as ws:
                await ws.send_str("before")
                assert await ws.receive_str(timeout=10) == "v0:before"
                write_app(app_dir, "v1")
                await asyncio.to_thread(wait_generation, site, 2)
                switched = time.monotonic()
                await ws.send_str("after the switch")
                assert await ws.receive_str(timeout=10) == "v0:after the switch"  # still the old worker
                message = await ws.receive(timeout=20)
                return message.type, message.data, time.monotonic() - switched

    kind, code, waited = asyncio.run(scenario())
    assert kind == aiohttp.WSMsgType.CLOSE and code == 1001  # a close frame, not a dropped connection
    assert 1.5 < waited < 10  # graceful_timeout = 3


def test_syntax_error_keeps_old_code_serving_and_is_recorded_then_a_fix_reloads(make_site, app_dir):
    site = make_site(app_config(app_dir))
    with LoadGenerator(site.url) as load:
        wait_until(lambda: load.count > 50, 20, "the load to get going")
        (app_dir / "live_app.py").write_text("def broken(:\n    pass\n")
        site.wait_for(lambda: site.app_status("live")["last_reload"].get("ok") is False, 30, "the failed reload")
        status = site.app_status("live")
        assert status["generation"] == 1 and status["state"] == "running"
        assert "SyntaxError" in events(site) and "reload-aborted generation=2" in events(site)
        cli = site.cli("status")
        assert "last reload (generation 2) failed" in cli.stdout
        seen_at = load.count
        wait_until(lambda: load.count > seen_at + 50, 20, "more requests served by the old code")
        write_app(app_dir, "v1")
        wait_generation(site, 3)
        seen_at = load.count
        wait_until(lambda: load.count > seen_at + 20, 20, "requests served by the fixed code")
        result = load.stop()
    assert result.failures == [], result.failures[:10]
    assert set(result.versions) == {"v0", "v1"}


def test_several_saves_in_a_moment_are_one_reload_and_a_save_during_a_reload_queues_one_more(make_site, app_dir):
    # Workers take ~1.5 s to start, so the second batch of saves lands while a reload runs.
    write_app(app_dir, "v0", extra="time.sleep(float(os.environ.get('STARTUP_DELAY', '0')))")
    site = make_site(app_config(app_dir, env='{ STARTUP_DELAY = "1.5" }'))
    for n in range(5):
        write_app(app_dir, f"a{n}", extra="time.sleep(float(os.environ.get('STARTUP_DELAY', '0')))")
    site.wait_for(lambda: "reload-started generation=2" in events(site), 10, "the first reload")
    for n in range(5):
        write_app(app_dir, f"b{n}", extra="time.sleep(float(os.environ.get('STARTUP_DELAY', '0')))")
    wait_generation(site, 3, timeout=40)
    assert site.get("/version").json()["version"] == "b4"
    # Generation 4 must never be started: the five quick saves were one reload, the later five one more.
    site.wait_for(lambda: "drain-finished generation=2" in events(site), 20, "generation 2 to drain")
    assert "generation=4" not in events(site)


def test_pysupervise_reload_and_sighup(make_site, app_dir):
    site = make_site(app_config(app_dir))
    result = site.cli("reload", "live")
    assert result.returncode == 0 and "now serving generation 2" in result.stdout
    os.kill(site.process.pid, signal.SIGHUP)
    wait_generation(site, 3)
    (app_dir / "live_app.py").write_text("raise ImportError('deliberately broken')\n")
    # The watcher reloads too; both attempts fail and generation 3 keeps serving.
    failed = site.cli("reload", "live")
    assert failed.returncode == 1 and "previous generation keeps serving" in failed.stdout
    assert generation(site) == 3 and site.get("/version").status == 200
    assert site.cli("reload", "nope").returncode == 2


def test_config_edits_add_and_remove_apps_live(make_site, app_dir, tmp_path):
    site = make_site(app_config(app_dir))
    base = site.config_path.read_text()
    other = tmp_path / "other"
    write_app(other, "other-v0")
    site.config_path.write_text(base + f"""
[apps.other]
app = "live_app:create_app"
dir = "{other}"
route = "/other"
workers = 1
""")
    site.wait_for(lambda: any(a["app"] == "other" and a["state"] == "running" for a in site.status()["apps"]),
                  30, "the added app to run")
    # The other app serves under /other but its routes are at /version: its 404 proves the routing.
    assert site.get("/other/version").status == 404
    assert site.get("/version").json()["version"] == "v0"
    site.config_path.write_text(base.replace("workers = 2", "workers = 2\nbroken_key = 1", 1))
    site.wait_for(lambda: site.status()["config_error"], 20, "the bad config to be rejected")
    assert "apps.live.broken_key: unknown key" in site.status()["config_error"]["error"]
    assert [a["app"] for a in site.status()["apps"]] == ["live", "other"]  # nothing changed
    site.config_path.write_text(base)
    site.wait_for(lambda: [a["app"] for a in site.status()["apps"]] == ["live"], 30, "the app to be removed")
    assert site.status()["config_error"] is None
    assert site.get("/version").status == 200


def test_crash_loop_marks_the_app_failed_and_a_save_fixes_it(make_site, app_dir):
    crash_soon = textwrap.dedent("""
        def _crash_later():
            import threading
            threading.Timer(0.3, lambda: os._exit(3)).start()
        print("starting a worker that will crash", flush=True)
        _crash_later()
    """)
    # Its own retries wait longer than this test runs: only the save brings it back.
    site = make_site(app_config(app_dir, max_restarts=3, recovery_delay=600))
    write_app(app_dir, "crashy", extra=crash_soon)
    site.wait_for(lambda: site.app_status("live")["state"] == "failed", 60, "the app to be marked failed")
    response = site.get("/version", headers={"Accept": "application/json"})
    assert response.status == 503 and "max_restarts" in response.json()["detail"]
    assert "app-failed" in events(site) and "slot-crash-loop" in events(site)
    failed = site.app_status("live")
    assert failed["next_attempt"] is not None and all(s["crash_looping"] for s in failed["slots"])
    write_app(app_dir, "fixed")
    site.wait_for(lambda: site.app_status("live")["state"] == "running", 30, "the save to bring it back")
    assert site.get("/version").json()["version"] == "fixed"


def test_max_requests_recycles_workers_under_load_without_failures(make_site, app_dir):
    site = make_site(app_config(app_dir, max_requests=40, max_requests_jitter=10))
    pids = {w["pid"] for w in site.app_status("live")["workers"]}
    with LoadGenerator(site.url) as load:
        site.wait_for(lambda: events(site).count("worker-recycle") >= 4, 60, "four recycles")
        result = load.stop()
    assert result.failures == [], result.failures[:10]
    site.wait_for(lambda: {w["pid"] for w in site.app_status("live")["workers"] if w["state"] == "ready"} - pids,
                  20, "ready successors with new pids")
    assert generation(site) == 1  # recycling replaces workers inside the generation


def test_hung_worker_is_killed_and_replaced(make_site, app_dir):
    # /hang blocks the event loop for good: the liveness probe, not the 504, is what gets it killed.
    site = make_site(app_config(app_dir, upstream_timeout=1, hang_timeout=2, workers=1))
    before = site.app_status("live")["workers"][0]["pid"]
    response = site.get("/hang", headers={"Accept": "application/json"})
    assert response.status == 504
    site.wait_for(lambda: not psutil.pid_exists(before) or psutil.Process(before).status() == psutil.STATUS_ZOMBIE,
                  10, "the hung worker to be killed")
    site.wait_for(lambda: site.get("/version").status == 200, 20, "the replacement worker")
    assert site.get("/version").json()["pid"] != before
    assert "worker-hung" in events(site)


def test_worker_over_max_memory_is_recycled_without_a_gap(make_site, app_dir):
    site = make_site(app_config(app_dir, max_memory='"120MiB"', workers=1))
    grown = site.get("/grow?mb=200").json()["pid"]
    with LoadGenerator(site.url, concurrency=4) as load:
        site.wait_for(lambda: "worker-recycle" in events(site), 20, "the memory recycle")
        site.wait_for(lambda: site.get("/version").json()["pid"] != grown, 20, "the successor to serve")
        result = load.stop()
    assert result.failures == [], result.failures[:10]
    assert "max_memory" in events(site)
