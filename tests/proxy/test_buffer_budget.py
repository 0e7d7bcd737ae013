"""buffer_memory_total: a flood of slow clients fills spill files, not the master's memory.

Each request body and each response read ahead of a slow reader may hold its own cap in memory
(buffer_memory_max, response_buffer_max: 1 MiB each by default); with 4 096 connections that
would be gigabytes. Past the shared total, what clients hold spills to a file at once.
"""

from __future__ import annotations

import json

from tests.proxy.test_slow_readers import MIB, SlowReader, download_sha, get, open_spill_files
from tests.support.raw_http import RawConnection
from tests.support.site import Site

KIB = 1024
CLIENTS = 5


def site_config(**proxy: str | int) -> str:
    # One front: the total is per front process, and these tests count one front's spill files.
    settings = "\n".join(f"{key} = {json.dumps(value)}" for key, value in {"processes": 1, **proxy}.items())
    return f"""
[proxy]
{settings}

[apps.web]
app = "web:create_app"
dir = "{{apps}}"
route = "/"
workers = 1
"""


def in_memory(site: Site) -> int:
    return site.status()["proxy"]["buffered_in_memory"]


def test_request_bodies_past_the_total_spill_and_arrive_whole(make_site):
    # Each body (400 KiB sent of 600) fits its own 1 MiB cap, but 5 of them do not fit the 1 MiB total.
    site = make_site(site_config(buffer_memory_max="1MiB", buffer_memory_total="1MiB"))
    body = bytes(range(256)) * (600 * KIB // 256)
    uploads = [RawConnection(site.port) for _ in range(CLIENTS)]
    try:
        for conn in uploads:
            conn.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:400 * KIB])
        site.wait_for(lambda: sum(open_spill_files(site, "body-")) == (CLIENTS - 2) * 400 * KIB, 30,
                      "the bodies past the total in spill files")
        assert in_memory(site) == 2 * 400 * KIB  # the first two, whole: the third did not fit beside them
        for conn in uploads:
            conn.send(body[400 * KIB:])
        for conn in uploads:
            status, _headers, echoed = conn.read_response()
            assert status == 200 and echoed == body
        site.wait_for(lambda: in_memory(site) == 0 and not open_spill_files(site, "body-"), 10,
                      "memory and spill files given back")
    finally:
        for conn in uploads:
            conn.close()


def test_responses_read_ahead_past_the_total_spill_and_arrive_whole(make_site):
    # Each response passes its own 1 MiB cap anyway (16 MiB: more than the kernel's socket buffers take too);
    # with a 1 MiB total, only one client's first MiB can be in memory and the others go to their files from
    # their first held byte.
    site = make_site(site_config(response_buffer_max="1MiB", buffer_memory_total="1MiB"))
    size = 16 * MIB
    readers = [SlowReader(site.port, get(f"/download?size={size}&r={i}")) for i in range(CLIENTS)]
    try:
        def worker_done() -> bool:
            worker = site.app_status("web")["workers"][0]
            return worker["requests"] == CLIENTS and worker["in_flight"] == 0

        site.wait_for(worker_done, 60, "every response read ahead of its slow reader")
        assert in_memory(site) <= MIB
        assert len(open_spill_files(site)) == CLIENTS
        for reader in readers:
            status, headers = reader.read_head()
            assert status == 200 and int(headers["content-length"]) == size
            assert reader.body_sha(size) == download_sha(size)
        site.wait_for(lambda: in_memory(site) == 0 and not open_spill_files(site), 10,
                      "memory and spill files given back")
    finally:
        for reader in readers:
            reader.close()
