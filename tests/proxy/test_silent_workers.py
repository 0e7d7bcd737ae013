"""A worker that goes silent in the middle of a response is cut off after upstream_timeout (nginx's
proxy_read_timeout), and only its own silence counts: not a slow client's, nor an event stream's. Every response
cut off after its head is counted apart from its status (truncated_responses).

Each test proves time has passed by an event, never by sleeping: a response stalled on purpose on the `stuck` app
is cut off no sooner than upstream_timeout after its last byte, so once it is, anything quiet since before it
began has been quiet for longer than upstream_timeout.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket

import sys

import pytest

from tests.admin.status.support import metric_samples, value
from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection

TIMEOUT = 1  # upstream_timeout, seconds

CONFIG = f"""
[proxy]
response_buffer_max = "256KiB"
response_spill_max = 0

[apps.stuck]
app = "web:create_app"
dir = "{{apps}}"
route = "/stuck"
workers = 1
max_concurrent_requests = 1
upstream_timeout = {TIMEOUT}
env = {{ PREFIX = "/stuck" }}

[apps.until-close]
command = ["{sys.executable}", "until_close_server.py"]
dir = "{{apps}}"
route = "/until-close"
workers = 1

[apps.other]
app = "web:create_app"
dir = "{{apps}}"
route = "/other"
workers = 1
upstream_timeout = {TIMEOUT}
env = {{ PREFIX = "/other" }}
"""


@pytest.fixture
def site(make_site):
    return make_site(CONFIG)


def cut_off(conn: RawConnection, timeout: float = 15) -> bytes:
    """Everything the proxy sends until it closes the connection (a recv timeout fails the test). The client knows
    the response is truncated as nginx's would: fewer bytes than its Content-Length, or no last chunk."""
    conn.sock.settimeout(timeout)
    data = conn.buffer
    try:
        while chunk := conn.sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def stalled_request(site, size: int, sent: int, gate: str) -> RawConnection:
    conn = RawConnection(site.port)
    conn.send(f"GET /stuck/stall?size={size}&sent={sent}&gate={gate} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return conn


def test_a_worker_silent_mid_body_is_cut_off_and_gives_back_its_slot(site):
    conn = stalled_request(site, size=400_000, sent=200_000, gate="mid-body")
    try:
        data = cut_off(conn)
    finally:
        conn.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: 400000" in head
    assert body == b"s" * 200_000  # all the worker sent, and not a byte that looks like more
    # The app has one slot: the next request gets it, instead of queueing behind the silent one until the worker
    # goes on (queue_timeout would give it a 503).
    assert site.get("/stuck/whoami", timeout=10).status == 200
    wait_until(lambda: "sent nothing for 1 s in the middle of a response" in site.output_text(), 10,
               "the master log to name the silent worker")
    # Its status counts say 200 (what the client was sent); the cut is counted apart, and shown.
    wait_until(lambda: site.app_status("stuck")["truncated_responses"] == {"worker-silent": 1}, 10,
               "the cut in the app's status")
    samples = metric_samples(site)
    assert value(samples, "pysupervise_truncated_responses_total", app="stuck", reason="worker-silent") == 1
    page = site.get("/stuck/status", headers={"Accept": "text/html"}).text
    assert "1 of them cut off after their head (worker-silent: 1)" in page
    assert site.get("/stuck/release?gate=mid-body").status == 200


def answered_with(conn: RawConnection, status: int) -> str:
    """The error page that answered a response held whole when its worker broke it off: its detail."""
    got, headers, body = conn.read_response(timeout=15)
    assert got == status, (got, headers, body[:300])
    return body.decode()


def test_a_small_response_held_whole_becomes_a_504(site):
    # Up to 64 KiB with a Content-Length leave whole or not at all (test_whole_responses.py): none of it has left,
    # so the client is told what happened, on a connection that stays usable, instead of getting a cut message.
    conn = stalled_request(site, size=2000, sent=1000, gate="held")
    try:
        assert "sent nothing for 1 s in the middle of its response (upstream_timeout)" in answered_with(conn, 504)
        assert b"s" * 100 not in conn.buffer  # not a byte of the response that broke off
        conn.send(b"GET /other/whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        assert conn.read_response(timeout=10)[0] == 200
    finally:
        conn.close()
    wait_until(lambda: site.app_status("stuck")["truncated_responses"] == {"worker-silent": 1}, 10,
               "the cut in the app's status")
    assert site.get("/stuck/release?gate=held").status == 200


def worker_said(site, app: str, line: str) -> bool:
    return any(line in path.read_text() for path in (site.log_dir / app).glob("*-stdout-*.log"))


def test_a_small_response_held_whole_whose_worker_dies_becomes_a_502(site):
    conn = stalled_request(site, size=2000, sent=1000, gate="dies-held")
    try:
        wait_until(lambda: worker_said(site, "stuck", "stalled dies-held"), 10, "the worker to write its first part")
        (worker,) = site.app_status("stuck")["workers"]
        os.kill(worker["pid"], signal.SIGKILL)
        assert "closed the connection in the middle of its response" in answered_with(conn, 502)
    finally:
        conn.close()
    wait_until(lambda: site.app_status("stuck")["truncated_responses"] == {"worker-closed": 1}, 10,
               "the cut in the app's status")


def test_an_event_stream_may_stay_quiet_for_longer(site):
    events = RawConnection(site.port)
    try:
        events.send(b"GET /other/sse?gate=quiet HTTP/1.1\r\nHost: t\r\n\r\n")
        status, headers, _ = events.read_response(head_only=True)
        assert status == 200 and headers["content-type"] == ["text/event-stream"]
        wait_until(lambda: b"data: first" in events.buffer or fill(events), 10, "the first event")
        # Quiet from now on: a response stalled after this has been cut off after upstream_timeout of silence.
        stalled = stalled_request(site, size=400_000, sent=1000, gate="sse-clock")
        try:
            answered_with(stalled, 504)
        finally:
            stalled.close()
        assert site.get("/other/release?gate=quiet").status == 200
        wait_until(lambda: b"data: second" in events.buffer or fill(events), 10, "the second event")
    finally:
        events.close()
    assert site.get("/stuck/release?gate=sse-clock").status == 200


def fill(conn: RawConnection) -> bool:
    """Read what has arrived (waiting at most a second); False, so wait_until polls again."""
    conn.sock.settimeout(1)
    try:
        chunk = conn.sock.recv(65536)
    except socket.timeout:
        return False
    if not chunk:
        raise ConnectionError(f"the event stream was closed; got {conn.buffer[-200:]!r}")
    conn.buffer += chunk
    return False


def test_a_client_that_stops_reading_is_not_the_workers_silence(site):
    # The client takes nothing while the read-ahead buffer fills and the worker is paused: the worker is silent
    # because of the client, for which send_timeout (60 s) rules. Read afterwards, the response is whole.
    size = 16 * 1024 * 1024
    reader = RawConnection(site.port)
    reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    try:
        reader.send(f"GET /other/download?size={size} HTTP/1.1\r\nHost: t\r\n\r\n".encode())

        def progress() -> int:
            return site.get("/other/progress").json()["sent"]

        wait_until(lambda: progress() > 0, 10, "the download to start")
        stalled = stalled_request(site, size=400_000, sent=1000, gate="reader-clock")
        try:
            answered_with(stalled, 504)  # upstream_timeout has passed since the download started
        finally:
            stalled.close()
        assert progress() < size, "the download never waited for the client: nothing was tested"
        status, headers, _ = reader.read_response(head_only=True)
        assert status == 200 and headers["content-length"] == [str(size)]
        assert body_length(reader, size) == size
    finally:
        reader.close()
    assert site.get("/stuck/release?gate=reader-clock").status == 200


def body_length(conn: RawConnection, expected: int) -> int:
    """Read a body of `expected` bytes, counting rather than keeping them; fewer if the connection ends first."""
    conn.sock.settimeout(30)
    got = len(conn.buffer)
    while got < expected:
        chunk = conn.sock.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    return got



@pytest.mark.parametrize("held_up_to", ["16MiB", "1MiB"], ids=["held in memory", "spilled to a file"])
def test_a_worker_that_reads_a_long_upload_slowly_is_not_timed_out(make_site, held_up_to):
    # upstream_timeout is the worker's silence, not the whole exchange: while it takes the body, however slowly,
    # it is working (nginx times each side apart: proxy_send_timeout between writes, then proxy_read_timeout).
    # 12 MiB at 64 KiB per 10 ms take the worker about 2 s, twice upstream_timeout.
    site = make_site(CONFIG.replace("[proxy]", f'[proxy]\nbuffer_memory_max = "{held_up_to}"'))
    body = os.urandom(12 * 1024 * 1024)
    response = site.request("POST", "/other/digest?pause=0.01", body=body, timeout=60)
    assert response.status == 200, response.text
    assert response.json()["sha256"] == hashlib.sha256(body).hexdigest()


def test_a_worker_that_stops_taking_an_upload_is_timed_out(site):
    # ...but a worker that takes nothing more for upstream_timeout is silent (here it waits 3 s per 64 KiB).
    response = site.request("POST", "/other/digest?pause=3", body=os.urandom(12 * 1024 * 1024),
                            headers={"Accept": "application/json"}, timeout=60)
    assert response.status == 504 and "upstream_timeout" in response.json()["detail"]


def test_a_request_pipelined_behind_a_cut_off_one_never_reaches_a_worker(site):
    # The connection is gone with the response it was carrying: what the client sent after it is not run for nobody.
    # A first request leaves a pooled connection to the worker, so a request started now would reach it at once.
    assert site.get("/other/count").json()["count"] == 1
    conn = RawConnection(site.port)
    try:
        conn.send(b"GET /stuck/stall?size=400000&sent=200000&gate=pipelined HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"GET /other/count HTTP/1.1\r\nHost: t\r\n\r\n")
        assert cut_off(conn).endswith(b"s" * 200_000)
    finally:
        conn.close()
    # Counted per worker: the app's one worker has counted the first request and this one, not the pipelined one.
    assert site.get("/other/count").json()["count"] == 2
    assert site.get("/stuck/release?gate=pipelined").status == 200


def test_a_worker_that_dies_mid_body_is_counted_as_a_cut(site):
    conn = stalled_request(site, size=400_000, sent=200_000, gate="never")
    try:
        wait_until(lambda: len(conn.buffer) > 200_000 or fill(conn), 10, "the body's first part")
        (worker,) = site.app_status("stuck")["workers"]
        os.kill(worker["pid"], signal.SIGKILL)
        assert len(cut_off(conn)) < 400_000
    finally:
        conn.close()
    wait_until(lambda: site.app_status("stuck")["truncated_responses"] == {"worker-closed": 1}, 10,
               "the cut in the app's status")


def http10_request(site, path: str) -> RawConnection:
    conn = RawConnection(site.port)
    conn.send(f"GET {path} HTTP/1.0\r\nHost: t\r\n\r\n".encode())
    return conn


def ends_in_a_reset(conn: RawConnection) -> bool:
    """An HTTP/1.0 client reads to the end of the connection: only a reset tells it the body was cut short."""
    try:
        conn.read_until_closed(timeout=15)
    except ConnectionResetError:
        return True
    return False


def test_an_http10_client_sees_a_cut_off_body_as_broken(site):
    # Re-chunked for nobody: an HTTP/1.0 client's body ends at the close, so a clean close would say "complete".
    silent = http10_request(site, "/other/streamed?pieces=3&pause=5")  # quiet for 5 s after its first piece
    try:
        assert ends_in_a_reset(silent)
    finally:
        silent.close()
    dying = stalled_request(site, size=400_000, sent=1000, gate="http10")  # warm the stuck worker's pool
    dying.close()
    conn = http10_request(site, "/other/streamed?pieces=3&pause=5")
    try:
        wait_until(lambda: b"piece-0" in conn.buffer or fill(conn), 10, "the first piece")
        (worker,) = site.app_status("other")["workers"]
        os.kill(worker["pid"], signal.SIGKILL)
        assert ends_in_a_reset(conn)
    finally:
        conn.close()


def test_a_chunked_body_cut_off_ends_without_its_last_chunk_and_cleanly(site):
    # Chunks without the last one show an HTTP/1.1 client the cut: it gets what the worker sent, then a clean close.
    conn = RawConnection(site.port)
    try:
        conn.send(b"GET /other/streamed?pieces=3&pause=5 HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_until(lambda: b"piece-0" in conn.buffer or fill(conn), 10, "the first piece")
        (worker,) = site.app_status("other")["workers"]
        os.kill(worker["pid"], signal.SIGKILL)
        head, _, body = conn.read_until_closed(timeout=15).partition(b"\r\n\r\n")  # a reset raises
    finally:
        conn.close()
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"8\r\npiece-0\n\r\n"
    wait_until(lambda: site.app_status("other")["truncated_responses"] == {"worker-closed": 1}, 10,
               "the cut in the app's status")


def test_a_body_the_worker_ends_by_closing_is_whole(site):
    # The worker's own framing: no length, no chunks, the close is the end. Not a cut: the client gets all of it.
    for version in (b"1.1", b"1.0"):
        conn = RawConnection(site.port)
        try:
            conn.send(b"GET /until-close/ HTTP/" + version + b"\r\nHost: t\r\n\r\n")
            status, headers, body = conn.read_response(timeout=15)
            assert status == 200 and body == b"until-close " * 1000, (version, headers, len(body))
        finally:
            conn.close()
    assert site.app_status("until-close")["truncated_responses"] == {}


def test_a_client_that_never_reads_a_cut_off_response_does_not_keep_its_connection(make_site):
    # The hostile side of handing every byte of a cut response over: a client that takes none of them. Its
    # connection is not kept until it reads: send_timeout ends the wait, as for a response that was not cut.
    site = make_site(CONFIG.replace("[proxy]", "[proxy]\nsend_timeout = 2"))
    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.connect(("127.0.0.1", site.port))
    try:
        reader.sendall(b"GET /stuck/stall?size=4000000&sent=2000000&gate=never-read HTTP/1.1\r\nHost: t\r\n\r\n")
        site.wait_for(lambda: site.app_status("stuck")["truncated_responses"] == {"worker-silent": 1}, 15,
                      "the worker's silence to cut the response off")
        assert site.status()["proxy"]["connections"] == 1  # still trying to hand it over
        site.wait_for(lambda: site.status()["proxy"]["connections"] == 0, 15, "the non-reader's connection to go")
        assert site.get("/stuck/whoami", timeout=10).status == 200  # and the app's one slot was given back at once
    finally:
        reader.close()
    assert site.get("/stuck/release?gate=never-read").status == 200
