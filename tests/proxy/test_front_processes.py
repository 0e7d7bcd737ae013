"""`[proxy] processes = 2`: a second front process accepts on the same port and routes like the master's proxy;
counts, access logs and drains cover both; a front that dies is started again (issue 18 point 4)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
import uuid

import aiohttp
import pytest

from tests.support.frozen import frozen
from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection
from tests.support.site import Site, running_site

# front_hang_timeout: some tests stop a front on purpose while a restart starts new workers, which a loaded
# machine can stretch past the default 10 s.
CONFIG = """
[proxy]
processes = 2
front_hang_timeout = 60

[apps.one]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 2

[apps.late]
app = "web:create_app"
dir = "{apps}"
route = "/late"
workers = 1
upstream_timeout = 1
env = { PREFIX = "/late" }
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("fronts"), CONFIG) as site:
        yield site


def front_of(response) -> str:
    """Each front process numbers its requests under a random prefix of its own."""
    return response.header("X-Request-Id").split("-")[0]


def fronts_seen(site: Site, path: str, connections: int = 60) -> set[str]:
    """The fronts that answered `connections` fresh connections (the kernel spreads them by their ports)."""
    seen = set()
    for _ in range(connections):
        response = site.get(path)
        assert response.status == 200, response.text
        seen.add(front_of(response))
    return seen


def app_counts(site: Site) -> dict:
    return site.app_status("one")


def test_both_fronts_serve_and_status_names_them(site):
    proxy = site.status()["proxy"]
    assert proxy["processes"] == 2
    (front,) = proxy["fronts"]
    assert front["alive"] and front["pid"] and front["pid"] != site.process.pid
    assert len(fronts_seen(site, "/whoami")) == 2


def test_counts_and_the_access_log_cover_every_front(site):
    marker = uuid.uuid4().hex
    assert len(fronts_seen(site, f"/count?{marker}", connections=40)) == 2
    log = site.log_dir / "one" / "access.log"

    def lines() -> list[str]:
        return log.read_text().splitlines()

    wait_until(lambda: len([line for line in lines() if marker in line]) >= 40, 10, "40 access log lines")
    marked = [line for line in lines() if marker in line]
    assert len(marked) == 40 and all(" 200 " in line for line in marked)
    # Every request of every front is both counted and logged, once.
    wait_until(lambda: app_counts(site)["requests_total"] == len(lines()), 10, "the counts to match the log")


async def _slow_requests(site: Site, count: int, seconds: float, within: float = 300) -> list[tuple[int, str, bytes]]:
    """(status, the front that answered, body) of `count` concurrent slow requests, one connection each, so the
    kernel spreads them over the fronts; each must be answered `within` seconds."""
    async def one(session: aiohttp.ClientSession) -> tuple[int, str, bytes]:
        async with session.get(f"{site.url}/slow?seconds={seconds}") as response:
            return response.status, response.headers.get("X-Request-Id", "").split("-")[0], await response.read()

    sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True),
                                      timeout=aiohttp.ClientTimeout(total=within)) for _ in range(count)]
    try:
        return await asyncio.gather(*(one(session) for session in sessions))
    finally:
        await asyncio.gather(*(session.close() for session in sessions))


def test_a_504_page_from_any_front_shows_the_workers_stderr(site):
    # Only the master reads the workers' stderr: a front's page about a live worker asks it (fronts/mirror.py).
    pages: dict[str, list[tuple[str, dict]]] = {}
    for _ in range(30):
        line = f"stderr-{uuid.uuid4().hex}"
        response = site.get(f"/late/slow?seconds=2&stderr={line}", headers={"Accept": "application/json"})
        assert response.status == 504, response.text
        pages.setdefault(front_of(response), []).append((line, response.json()))
        if len(pages) == 2:
            break
    assert len(pages) == 2, "every 504 came from one front: the kernel never picked the other"
    for front, answers in pages.items():
        for line, page in answers:
            assert line in page.get("worker_stderr", ""), (front, page)


def test_a_reload_lets_requests_in_flight_in_every_front_finish(site):
    old_pids = {w["pid"] for w in app_counts(site)["workers"]}

    async def scenario() -> list[tuple[int, str, bytes]]:
        requests = asyncio.ensure_future(_slow_requests(site, 12, 2.0))
        # In flight everywhere: the status page sums what both fronts have sent to the workers.
        await asyncio.to_thread(wait_until, lambda: requests.done() or sum(
            w["in_flight"] for w in app_counts(site)["workers"]) == 12, 10, "12 requests in flight")
        reload = await asyncio.to_thread(site.cli, "reload", "one")
        assert reload.returncode == 0, reload.stderr
        return await requests

    results = asyncio.run(scenario())
    assert all(status == 200 for status, _, _ in results)
    assert {json.loads(body)["pid"] for _, _, body in results} <= old_pids  # by the workers they were sent to
    assert len({front for _, front, _ in results}) == 2
    # The old workers stop once both fronts have released them.
    site.wait_for(lambda: not old_pids & {w["pid"] for w in app_counts(site)["workers"]}, 10,
                  "the old workers to stop")


def test_a_restart_says_so_when_a_front_could_not_switch_with_the_master_and_it_switches_on_waking(site):
    (front,) = site.status()["proxy"]["fronts"]
    with frozen(front["pid"]):
        restart = site.cli("restart", "one")
    assert restart.returncode == 0, restart.stderr
    assert "pysupervise: front process(es) 1 did not confirm the new routes in time (stuck?)" in restart.stderr
    generation = re.search(r"now serving generation (\d+)", restart.stdout).group(1)
    seen = set()
    for _ in range(40):
        response = site.get("/whoami")
        assert response.status == 200, response.text
        seen.add((front_of(response), response.json()["generation"]))
    assert {answer_generation for _front, answer_generation in seen} == {generation} and len(seen) == 2, seen


def test_a_killed_front_is_started_again_without_refusing_clients(site):
    (front,) = site.status()["proxy"]["fronts"]
    os.kill(front["pid"], signal.SIGKILL)

    def restarted() -> dict | None:
        (now,) = site.status()["proxy"]["fronts"]
        return now if now["alive"] and now["pid"] != front["pid"] else None

    # Clients that the kernel hands to its socket meanwhile wait in its backlog: the master keeps it open.
    assert len(fronts_seen(site, "/whoami", connections=40)) >= 1
    now = wait_until(restarted, 20, "the front to be started again")
    assert now["starts"] == front["starts"] + 1
    assert len(fronts_seen(site, "/whoami")) == 2


def test_a_front_whose_loop_is_stuck_is_killed_and_its_waiting_clients_are_served(tmp_path):
    """A front that stops answering (here SIGSTOPped: a blocked or stopped event loop) would leave every client the
    kernel gives it waiting forever. The master pings each front; one silent for front_hang_timeout is killed,
    and its replacement, on the socket the master kept, serves the clients left in its backlog."""
    site = Site(tmp_path, CONFIG.replace("front_hang_timeout = 60", "front_hang_timeout = 2"))
    try:
        site.start()
        (front,) = site.status()["proxy"]["fronts"]
        with frozen(front["pid"]):  # until the master kills it, as it should
            # Fresh connections: the kernel gives some of them to the stopped front.
            answers = asyncio.run(_slow_requests(site, 16, 0, within=30))
        assert [status for status, _front, _body in answers] == [200] * 16
        (now,) = site.status()["proxy"]["fronts"]
        assert now["alive"] and now["pid"] != front["pid"] and now["starts"] == front["starts"] + 1
        assert len({answer_front for _status, answer_front, _body in answers}) == 2  # some waited for the new front
        assert f"front process 1 (pid {front['pid']}) answered no ping for 2 s" in site.output_text()
    finally:
        site.stop()


def test_a_master_stopped_past_the_hang_timeout_kills_no_front_that_answered_meanwhile(tmp_path):
    """The master's own stall (stopped, paged out, a blocked loop) must not read as its fronts' hang. A ping is left
    unanswered (the front is stopped), then the master is stopped, the front answers while it is, and the master
    wakes past the ping's deadline: its timers run on waking, but the answer came, so the front lives on."""
    site = Site(tmp_path, CONFIG.replace("front_hang_timeout = 60", "front_hang_timeout = 3"))
    try:
        site.start()
        (front,) = site.status()["proxy"]["fronts"]
        master = site.process.pid
        with frozen(front["pid"]):
            # The stall itself: pings go out every second, so one is out (and unanswered) after this.
            time.sleep(1.5)
            os.kill(master, signal.SIGSTOP)
        try:
            # The front answers the ping now; the master sleeps on past its deadline (1.5 s + 4 s > 3 s).
            time.sleep(4)
        finally:
            os.kill(master, signal.SIGCONT)
        # On waking the master judges the ping at once; a wrong kill would show within a ping round or two.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            (now,) = site.status()["proxy"]["fronts"]
            assert now["alive"] and now["pid"] == front["pid"] and now["starts"] == front["starts"], now
            assert "answered no ping" not in site.output_text()
        assert len(fronts_seen(site, "/whoami")) == 2
    finally:
        site.stop()


def test_a_drain_turns_the_health_page_of_every_front_503(tmp_path):
    site = Site(tmp_path, CONFIG.replace("[proxy]", "[supervisor]\ndrain_timeout = 30\n\n[proxy]"))
    try:
        site.start()
        fronts = site.proxy_pids()
        os.kill(site.process.pid, signal.SIGUSR2)
        wait_until(lambda: site.get("/_pysupervise/health").status == 503, 10, "the health page to say 503")
        answers = [site.get("/_pysupervise/health") for _ in range(40)]
        assert {r.status for r in answers} == {503}
        assert len({front_of(r) for r in answers}) == 2
        assert all(r.status == 200 for r in (site.get("/whoami") for _ in range(10)))  # still serving
    finally:
        site.stop()
    assert site.process.returncode == 0
    wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in fronts), 10, "every front to exit")


def connections_by_front(site: Site, each: int) -> dict[str, list[RawConnection]]:
    """`each` keep-alive connections on each front: fresh ones, sorted by the front that answers a first request."""
    by_front: dict[str, list[RawConnection]] = {}
    for _ in range(200):
        conn = RawConnection(site.port)
        conn.send(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, _ = conn.read_response()
        assert status == 200
        front = headers["x-request-id"][0].split("-")[0]
        if len(by_front.setdefault(front, [])) < each:
            by_front[front].append(conn)
        else:
            conn.close()
        if len(by_front) == 2 and all(len(conns) == each for conns in by_front.values()):
            return by_front
    raise AssertionError(f"200 connections did not give {each} to each front: {by_front}")


def test_each_front_has_its_share_of_the_slots_and_a_queue_of_its_own(tmp_path):
    # 2 slots: one per front while nothing waits; queue_limit 1: one request waits in each front.
    site = Site(tmp_path, CONFIG.replace("workers = 2", "workers = 1\nmax_concurrent_requests = 2\nqueue_limit = 1\n"
                                                        "queue_timeout = 30"))
    conns = []
    try:
        site.start()
        assert site.app_status("one")["workers"][0]["max_concurrent_requests"] == 2
        by_front = connections_by_front(site, 3)
        conns = [conn for front in by_front.values() for conn in front]
        first, second, third = zip(*by_front.values())  # a connection on each front, three times
        slow = b"GET /slow?seconds=3 HTTP/1.1\r\nHost: t\r\n\r\n"
        for conn in first:
            conn.send(slow)
        site.wait_for(lambda: site.app_status("one")["workers"][0]["in_flight"] == 2, 10, "a slot busy from each front")
        # Nothing waits anywhere, so neither front's share moved: each queues its next request itself.
        for conn in second:
            conn.send(slow)
        site.wait_for(lambda: site.app_status("one")["queue_length"] == 2, 10, "a request waiting in each front")
        assert site.app_status("one")["workers"][0]["in_flight"] == 2  # shares, not a worker's slots per front
        for conn in third:
            conn.send(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
            status, _, body = conn.read_response(timeout=10)
            assert status == 503 and b"queue is full" in body, (status, body[:300])
        # Everything admitted is answered.
        for conn in (*first, *second):
            status, _, body = conn.read_response(timeout=20)
            assert status == 200 and json.loads(body)["slept"] == 3
    finally:
        for conn in conns:
            conn.close()
        site.stop()


def test_fronts_die_with_a_master_that_is_killed(tmp_path):
    site = Site(tmp_path, CONFIG)
    try:
        site.start()
        front = site.proxy_pids()[1]
        workers = site.worker_pids()
        site.process.kill()
        site.process.wait()
        wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in (front, *workers)), 10,
                   "the front and the workers to die with the master")
    finally:
        site.stop()


def test_status_counts_the_connections_and_buffered_bodies_of_every_front(site):
    conns = [RawConnection(site.port) for _ in range(20)]
    try:
        for conn in conns:
            conn.send(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
            assert conn.read_response()[0] == 200
        # Idle keep-alive connections are parked after a second, in whichever front holds them.
        site.wait_for(lambda: site.status()["proxy"]["parked_connections"] >= 20, 15, "20 parked connections")
        assert site.status()["proxy"]["connections"] >= 20
        # Half-sent uploads hold their bodies in memory in whichever front reads them: the level sums them all.
        for conn in conns[:6]:
            conn.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n" + b"x" * 100_000)
        site.wait_for(lambda: site.status()["proxy"]["buffered_in_memory"] == 600_000, 15,
                      "6 half bodies held in memory, over both fronts")
        for conn in conns[:6]:
            conn.send(b"y" * 100_000)
            status, _headers, echoed = conn.read_response()
            assert status == 200 and len(echoed) == 200_000
        site.wait_for(lambda: site.status()["proxy"]["buffered_in_memory"] == 0, 15, "the bodies given back")
    finally:
        for conn in conns:
            conn.close()


def test_websockets_spread_over_the_workers_whichever_front_holds_them(site):
    async def scenario() -> list[int]:
        sessions = [aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) for _ in range(6)]
        sockets = []
        try:
            for count in range(1, 7):
                sockets.append(await sessions[count - 1].ws_connect(f"{site.url}/ws"))
                # Known to the master (and so, on its next push, to the other front) before the next one opens.
                await asyncio.to_thread(site.wait_for, lambda: sum(
                    w["in_flight"] for w in app_counts(site)["workers"]) == count, 10, f"{count} websockets open")
            return [w["in_flight"] for w in app_counts(site)["workers"]]
        finally:
            for ws in sockets:
                await ws.close()
            await asyncio.gather(*(session.close() for session in sessions))

    assert sorted(asyncio.run(scenario())) == [3, 3]
