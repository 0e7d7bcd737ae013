"""What a flood of hostile clients can make the master hold: bounded, and every request still answered.

Each request body and each response read ahead of a slow reader may hold its own cap in memory
(buffer_memory_max 16 MiB, response_buffer_max 1 MiB by default); with 4 096 connections that
would be gigabytes. Past the shared buffer_memory_total, what clients hold spills to a file at once.
Pipelined requests read ahead of a slow one are bounded too, in count and in what their heads cost.
"""

from __future__ import annotations

import json

from tests.proxy.test_slow_readers import MIB, SlowReader, download_sha, get, open_spill_files
from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection
from tests.support.site import Site, proxy_section

KIB = 1024
CLIENTS = 5


def site_config(**proxy: str | int) -> str:
    # One front: the total is per front process, and these tests count one front's spill files.
    return proxy_section(**proxy) + """
[apps.web]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 1
"""


def unread_by_proxy(proxy_port: int, client_port: int) -> int:
    """Bytes a client sent that wait in the proxy's socket, not read yet (/proc/net/tcp's rx_queue)."""
    with open("/proc/net/tcp") as table:
        for line in table.read().splitlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            if (local, remote) == (proxy_port, client_port):
                return int(fields[4].split(":")[1], 16)
    raise LookupError(f"no connection from port {client_port} to port {proxy_port}")


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


def test_pipelined_requests_behind_a_slow_one_are_read_ahead_only_so_far(make_site):
    # Tiny requests of 100 header fields: ~800 bytes each on the wire, ~15 KiB each once parsed. Read ahead a
    # whole socket read at a time, each connection would hold dozens of them parsed (16 connections took the
    # master 26 MiB in a measurement); read ahead up to max_header_size of parsed heads (about 5 of these,
    # plus at most one 4 KiB slice more), the rest of the read waits as raw bytes.
    site = make_site(site_config())
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(99))
    pipelined = [b"GET /whoami?%d HTTP/1.1\r\nHost: t\r\n" % i + fields + b"\r\n" for i in range(300)]
    conns = [RawConnection(site.port, timeout=30) for _ in range(16)]
    try:
        for conn in conns:
            conn.send(b"GET /slow?seconds=3 HTTP/1.1\r\nHost: t\r\n\r\n" + b"".join(pipelined))
        site.wait_for(lambda: site.app_status("web")["workers"][0]["in_flight"] == 16, 10, "the 16 slow requests")
        ports = [conn.sock.getsockname()[1] for conn in conns]
        last: list[list[int]] = [[]]

        def reading_settled() -> bool:  # the proxy reads no more from any of them (it paused, or has it all)
            queues = [unread_by_proxy(site.port, port) for port in ports]
            settled, last[0] = queues == last[0], queues
            return settled

        wait_until(reading_settled, 10, "the proxy to stop reading the pipelined requests", interval=0.2)
        held = site.status()["proxy"]["read_ahead_requests"]
        assert 16 <= held <= 16 * 10, f"{held} requests read ahead over 16 connections"
        for conn in conns:
            assert conn.read_response(timeout=30)[0] == 200
            for i in range(300):
                status, _headers, body = conn.read_response(timeout=30)
                assert status == 200 and json.loads(body)["path"] == f"/whoami?{i}", body
        site.wait_for(lambda: site.status()["proxy"]["read_ahead_requests"] == 0, 10, "nothing read ahead")
    finally:
        for conn in conns:
            conn.close()
