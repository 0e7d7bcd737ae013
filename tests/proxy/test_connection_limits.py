"""At max_connections, idle connections make room for new clients; busy ones never do; silent ones time out."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection
from tests.support.site import running_site

LIMIT = 20
# keepalive_timeout = 75: a proxy that let idle connections keep their slots would leave a new client
# waiting far longer than the few seconds the tests give it. max_connections is per front process (as nginx's
# worker_connections is per worker), and the kernel picks a client's front: these tests count on one front.
SITE = f"""
[proxy]
processes = 1
max_connections = {LIMIT}
keepalive_timeout = 75
header_timeout = 2

[apps.web]
app = "web:create_app"
dir = "{{apps}}"
route = "/"
workers = 1
"""
# Seconds a client waits for an answer: well below keepalive_timeout.
ANSWER_WITHIN = 5
# Seconds a test waits for its own setup to show in `pysupervise status` (each poll starts a CLI process, which
# takes a second or more while the other test worker loads the machine): a precondition, not what is tested.
SETTLE_WITHIN = 20


@pytest.fixture
def site(tmp_path):
    with running_site(tmp_path, SITE) as site:
        yield site


@pytest.fixture
def connections():
    opened: list[RawConnection] = []

    def open_one(port: int) -> RawConnection:
        conn = RawConnection(port, timeout=ANSWER_WITHIN)
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        conn.close()


def wait_for_every_slot(site) -> None:
    """Until the master counts LIMIT client connections, none closed to make room; on a timeout, what it counted and
    said, and every socket on its port with its process."""
    def counted() -> str:
        proxy = site.status()["proxy"]
        fields = ("connections", "idle_connections", "parked_connections", "closed_for_room")
        peers = subprocess.run(["ss", "-tnp", "state", "all", f"( sport = :{site.port} or dport = :{site.port} )"],
                               capture_output=True, text=True).stdout if shutil.which("ss") else "(no ss here)"
        return (f"status: {({key: proxy.get(key) for key in fields})}\nsockets on the port:\n{peers}\n"
                f"master output:\n{site.output_text()[-3000:]}")

    wait_until(lambda: site.status()["proxy"]["connections"] >= LIMIT, SETTLE_WITHIN, "every slot taken",
               diagnostics=counted)
    # LIMIT clients fit in LIMIT slots. A client accepted in a burst was counted twice for a loop turn (adopting,
    # and open), and under load the last ones of the burst closed the oldest of them "for room".
    assert site.status()["proxy"]["closed_for_room"] == 0, counted()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def upload_head(path: str, length: int) -> bytes:
    """A request head whose 100 Continue proves the proxy has taken the connection."""
    return (f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n").encode()


def start_upload(conn: RawConnection, path: str, body: bytes, sent: int) -> None:
    conn.send(upload_head(path, len(body)))
    assert conn.read_response()[0] == 100
    conn.send(body[:sent])


def test_idle_keep_alive_connections_make_room_for_a_new_client(site, connections):
    # Each opened just before its request: one opened early waits silently while the others are served, and
    # on a loaded machine that can outlast header_timeout (2 s), which closes it without a word, rightly.
    idle = []
    for _ in range(LIMIT):
        conn = connections(site.port)
        conn.send(get("/whoami"))
        assert conn.read_response()[0] == 200  # kept alive, then silent
        idle.append(conn)
    newcomer = connections(site.port)
    newcomer.send(get("/whoami?newcomer"))
    status, _headers, body = newcomer.read_response(timeout=ANSWER_WITHIN)
    assert status == 200 and json.loads(body)["path"] == "/whoami?newcomer"
    # The oldest idle connection gave up its slot; the others were left alone and still serve.
    assert idle[0].is_closed(timeout=ANSWER_WITHIN)
    for conn in idle[1:]:
        conn.send(get("/whoami?again"))
        assert conn.read_response()[0] == 200


def test_connections_with_a_request_in_progress_are_never_closed_for_room(site, connections):
    body = b"0123456789"
    # A request waiting on a slow handler, and uploads stopped halfway: every slot is busy.
    slow = connections(site.port)
    start_upload(slow, "/slow?seconds=4", b"x", 1)
    uploads = []
    for _ in range(LIMIT - 1):
        # Each opened just before its head is sent: opened together, the last ones waited silent while the
        # others went through, and on a loaded machine that outlasted header_timeout (2 s), which closed them.
        conn = connections(site.port)
        start_upload(conn, "/echo", body, 5)
        uploads.append(conn)
    waiting = connections(site.port)  # in the kernel's backlog: no slot is free and none is idle
    waiting.send(get("/whoami?waiting"))
    # One upload finishes: its connection goes idle, and that is the room the waiting client gets.
    uploads[0].send(body[5:])
    status, _headers, echoed = uploads[0].read_response()
    assert (status, echoed) == (200, body)
    status, _headers, answer = waiting.read_response(timeout=ANSWER_WITHIN)
    assert status == 200 and json.loads(answer)["path"] == "/whoami?waiting"
    # Every other request in progress was kept: each upload completes and is echoed whole.
    for conn in uploads[1:]:
        conn.send(body[5:])
        status, _headers, echoed = conn.read_response()
        assert (status, echoed) == (200, body)
    status, _headers, answer = slow.read_response(timeout=15)
    assert status == 200 and json.loads(answer)["slept"] == 4
    assert site.process.poll() is None


@pytest.fixture
def silent_site(tmp_path):
    with running_site(tmp_path, SITE.replace("header_timeout = 2", "header_timeout = 1")
                .replace(f"max_connections = {LIMIT}", "max_connections = 5")) as site:
        yield site


def test_silent_connections_are_closed_after_header_timeout_even_beyond_the_limit(silent_site, connections):
    silent = [connections(silent_site.port) for _ in range(8)]  # more than max_connections
    for conn in silent:
        assert conn.is_closed(timeout=15)
    # After a keep-alive request, half a head is a request in progress: 408 after header_timeout.
    conn = connections(silent_site.port)
    conn.send(get("/whoami"))
    assert conn.read_response()[0] == 200
    conn.send(b"GET /whoami HTTP/1.1\r\nHost: te")
    assert conn.read_response(timeout=15)[0] == 408
    wait_until(lambda: silent_site.get("/whoami", timeout=ANSWER_WITHIN).status == 200, 15, "a normal request")


@pytest.fixture
def patient_site(tmp_path):
    # header_timeout far above how long the test waits: the slow heads are not closed by their own deadline.
    with running_site(tmp_path, SITE.replace("header_timeout = 2", "header_timeout = 60")) as site:
        yield site


def test_heads_that_trickle_in_give_way_to_new_clients_at_the_limit(patient_site, connections):
    """A slowloris at max_connections: every slot holds a head sent a piece at a time. The oldest slow head
    gets 408 once it has trickled for a second and the new client gets in (benchmarks/slowloris.py: as with
    nginx), instead of waiting for header_timeout."""
    slow = [connections(patient_site.port) for _ in range(LIMIT)]
    for conn in slow:
        conn.send(b"GET /whoami HTTP/1.1\r\nHost: te")
    wait_for_every_slot(patient_site)
    for conn in slow:
        conn.send(b"s")  # still trickling
    newcomer = connections(patient_site.port)
    newcomer.send(get("/whoami?newcomer"))
    status, _headers, answer = newcomer.read_response(timeout=ANSWER_WITHIN)
    assert status == 200 and json.loads(answer)["path"] == "/whoami?newcomer"
    assert slow[0].read_response()[0] == 408  # the oldest slow head gave its slot
    assert patient_site.status()["proxy"]["closed_for_room"] >= 1
    # The others still finish their requests.
    for conn in slow[1:]:
        conn.send(b"t\r\n\r\n")
        assert conn.read_response()[0] == 200


def test_a_slow_head_pipelined_behind_a_request_in_progress_keeps_its_slot(patient_site, connections):
    pipelining = connections(patient_site.port)  # the oldest: a request being answered, the next head trickling
    pipelining.send(get("/slow?seconds=3") + b"GET /whoami?next HTTP/1.1\r\nHost: te")
    slow = [connections(patient_site.port) for _ in range(LIMIT - 1)]
    for conn in slow:
        conn.send(b"GET /whoami HTTP/1.1\r\nHost: te")
    wait_for_every_slot(patient_site)
    newcomer = connections(patient_site.port)
    newcomer.send(get("/whoami?newcomer"))
    assert newcomer.read_response(timeout=ANSWER_WITHIN)[0] == 200
    assert slow[0].read_response()[0] == 408  # the oldest head with nothing else in progress gave its slot
    status, _headers, answer = pipelining.read_response(timeout=10)
    assert status == 200 and json.loads(answer)["slept"] == 3
    pipelining.send(b"st\r\n\r\n")
    status, _headers, answer = pipelining.read_response()
    assert status == 200 and json.loads(answer)["path"] == "/whoami?next"


def test_bodies_that_trickle_in_give_way_to_new_clients_at_the_limit(patient_site, connections):
    """R-U-Dead-Yet: every slot holds an upload that sent 10 bytes of 1 000 and stalls (a byte now and then
    would reset body_timeout forever). Past 2 s under 1 KiB/s, the oldest gets 408 and the new client gets in."""
    uploads = [connections(patient_site.port) for _ in range(LIMIT)]
    for conn in uploads:
        conn.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
    wait_for_every_slot(patient_site)
    newcomer = connections(patient_site.port)
    newcomer.send(get("/whoami?newcomer"))
    status, _headers, answer = newcomer.read_response(timeout=ANSWER_WITHIN)
    assert status == 200 and json.loads(answer)["path"] == "/whoami?newcomer"
    assert uploads[0].read_response()[0] == 408
    for conn in uploads[1:]:  # the others still finish their uploads
        conn.send(b"y" * 990)
        status, _headers, echoed = conn.read_response()
        assert status == 200 and echoed == b"x" * 10 + b"y" * 990


@pytest.fixture
def quick_site(tmp_path):
    with running_site(tmp_path, SITE.replace("keepalive_timeout = 75", "keepalive_timeout = 1")) as site:
        yield site


def test_requests_that_came_while_the_proxy_was_stopped_are_read_not_timed_out(quick_site, connections):
    # A master stopped (SIGSTOP, a frozen VM) for longer than its deadlines: the requests that came meanwhile are
    # in the sockets when it wakes, and must be served, not taken for silent clients. One connection is kept alive
    # (its keep-alive deadline, 1 s, passes in the stop; it may be parked), one is accepted and silent until the
    # stop (header_timeout, 2 s, passes in the stop).
    kept = connections(quick_site.port)
    kept.send(get("/whoami?first"))
    assert kept.read_response()[0] == 200
    fresh = connections(quick_site.port)
    wait_until(lambda: (lambda p: p["connections"] + p["parked_connections"] >= 2)(quick_site.status()["proxy"]), 10,
               "the proxy to accept both")
    master = quick_site.process.pid
    os.kill(master, signal.SIGSTOP)
    try:
        stopped_at = time.monotonic()
        kept.send(get("/whoami?kept"))
        fresh.send(get("/whoami?fresh"))
        # The attack is the stop itself: it must outlast both deadlines.
        wait_until(lambda: time.monotonic() - stopped_at > 3, 10, "the stop to outlast header_timeout")
    finally:
        os.kill(master, signal.SIGCONT)
    for conn, path in ((kept, "/whoami?kept"), (fresh, "/whoami?fresh")):
        status, _headers, body = conn.read_response(timeout=ANSWER_WITHIN)
        assert status == 200 and json.loads(body)["path"] == path
