"""A remote client that fills the disk (unfinished uploads spill there) must not disable the proxy's timeouts.

run_dir and log_dir live on a real 4 MiB tmpfs, filled by the attack itself and by a file; the master
is a real `pysupervise start`.
"""

from __future__ import annotations

import select
import shutil

import pytest

from tests.admin.status.support import metric_samples, value
from tests.support.disk import fill, small_tmpfs
from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection
from tests.support.site import running_site

MIB = 1024 * 1024


@pytest.fixture
def small_disk():
    """Unmounted after the site on it has stopped (the site fixture depends on this one)."""
    with small_tmpfs("4m") as mount_point:
        yield mount_point


@pytest.fixture
def site(tmp_path, small_disk):
    config = f"""
[supervisor]
run_dir = "{small_disk}/run"
log_dir = "{small_disk}/logs"

[proxy]
header_timeout = 1
buffer_memory_max = "16KiB"

[apps.web]
app = "web:create_app"
dir = "{{apps}}"
route = "/"
workers = 2
upstream_timeout = 1
"""
    with running_site(tmp_path, config) as site:
        yield site


def upload_head(length: int) -> bytes:
    return (f"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def send_until_answered(conn: RawConnection, total: int) -> int:
    """Send `total` body bytes, stopping early once the proxy answers; the status it answered."""
    chunk = b"a" * 65536
    sent = 0
    while sent < total and not select.select([conn.sock], [], [], 0)[0]:
        conn.send(chunk)
        sent += len(chunk)
    return conn.read_response(timeout=15)[0]


def test_a_full_disk_leaves_every_timeout_working(site, small_disk):
    access_log = small_disk / "logs" / "web" / "access.log"
    assert site.get("/whoami?before").status == 200
    wait_until(lambda: "/whoami?before" in access_log.read_text(), 10, "the first access line")

    # An upload larger than the free space: 507 once its spill hits the end of the disk, and the space is
    # given back at once (one client cannot keep the disk full this way).
    greedy = RawConnection(site.port)
    greedy.send(upload_head(8 * MIB))
    assert send_until_answered(greedy, 8 * MIB) == 507
    greedy.close()
    wait_until(lambda: shutil.disk_usage(small_disk).used < MIB, 10, "the spilled body's space back")

    # The attack that does hold space: an upload stopped halfway keeps its spilled body; a file takes the rest.
    attacker = RawConnection(site.port)
    attacker.send(upload_head(8 * MIB) + b"a" * MIB)
    wait_until(lambda: shutil.disk_usage(small_disk).used >= MIB, 10, "the unfinished upload on the disk")
    fill(small_disk / "filler")

    # Requests are still answered; their access lines cannot be written (more than the last page of the file
    # holds: tmpfs hands out space a page at a time).
    for i in range(20):
        assert site.get(f"/whoami?full-{i}-{'x' * 400}").status == 200
    # The sweeper still drives every deadline: 408 for half a head after header_timeout ...
    half = RawConnection(site.port, timeout=15)
    half.send(b"GET /whoami HTTP/1.1\r\nHost: te")
    assert half.read_response(timeout=15)[0] == 408
    half.close()
    # ... 504 for a slow handler after upstream_timeout ...
    assert site.get("/slow?seconds=30", timeout=15).status == 504
    # ... and an upload that cannot spill is answered 507, not left hanging.
    refused = site.request("POST", "/echo", body=b"u" * 100_000, timeout=15,
                           headers={"Content-Type": "application/octet-stream"})
    assert refused.status in (507, 503)
    assert site.process.poll() is None
    wait_until(lambda: site.get("/whoami?still-up").status == 200, 20, "the site to answer on a full disk")

    # The lost lines are counted, and the errors visible, in the metrics and (once) in the master's log.
    samples = wait_until(lambda: (lambda s: s if value(s, "pysupervise_access_log_dropped_lines_total", app="web")
                                  else None)(metric_samples(site)), 10, "dropped access lines in the metrics",
                         diagnostics=site.output_text)
    assert value(samples, "pysupervise_background_errors_total", task="access-log") >= 1
    assert value(samples, "pysupervise_background_errors_total", task="request-body-spill") >= 1
    assert any("cannot write" in line and "access.log" in line for line in site.output)

    # Room again: the access log picks up by itself.
    (small_disk / "filler").unlink()
    attacker.close()
    # (The worker the slow request stalled may be being replaced meanwhile, hence the polling.)
    wait_until(lambda: site.get("/whoami?after-the-disk-was-freed").status == 200, 20, "an answer")
    wait_until(lambda: "/whoami?after-the-disk-was-freed" in access_log.read_text(), 10,
               "the access log to record requests again", diagnostics=site.output_text)
    assert site.process.poll() is None
