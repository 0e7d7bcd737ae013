"""Who may use the debugger (admin access, same-origin WebSocket), stack dumps, the VS Code opt-in, debug = false."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import aiohttp
import psutil
import pytest

from tests.debugger.support import DapClient, debug_pid, debug_site, ws_url
from tests.support.poll import wait_until


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
async def test_a_websocket_from_another_origin_is_refused_with_403(make_site, tmp_path, origin):
    site, _source = debug_site(make_site, tmp_path, workers=1)
    headers = {"Origin": origin} if origin else {}
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(ws_url(site), headers=headers)
        assert refused.value.status == 403
        async with http.post(site.url + "/web/debug/vscode", headers=headers) as vscode:
            assert vscode.status == 403
        # A link on another site does not start a debugger either: it gets one button to click.
        async with http.get(site.url + "/web/debug/?brk", headers={"Sec-Fetch-Site": "cross-site"}) as link:
            assert link.status == 200 and "Open the debugger?" in await link.text()
            assert "Set-Cookie" not in link.headers
    assert debug_pid(site) is None  # nothing was started for them


def _from_stranger(site, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    response = site.request("GET", path, headers=headers, timeout=10, source="127.0.0.3")
    return response.status, response.body


def test_clients_the_admin_does_not_allow_get_404_and_start_nothing(make_site, tmp_path):
    site, _source = debug_site(make_site, tmp_path, workers=1, extra='\n[admin]\nallow = ["127.0.0.1"]\n',
                               listen="127.0.0.2:0")
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": site.url,
               "X-Forwarded-For": "127.0.0.1"}  # a forged header changes nothing: the proxy replaces it
    for path, headers in [("/web/debug", {}), ("/web/debug/", {}), ("/web/debug/?brk", {}),
                          ("/web/debug/ws", upgrade), ("/web/debug/files", {}), ("/web/debug/stacks/1", {}),
                          ("/web/debug/source?path=dbgapp.py", {})]:
        status, body = _from_stranger(site, path, headers)
        assert status == 404, (path, status)
        assert b"dbgapp" not in body
    assert _from_stranger(site, "/whoami")[0] == 200  # the app itself stays public
    assert debug_pid(site) is None


def test_a_stack_dump_shows_a_blocked_normal_worker_without_stopping_it(make_site, tmp_path):
    site, _source = debug_site(make_site, tmp_path, workers=1)
    (worker,) = [w for w in site.app_status("web")["workers"] if w["state"] == "ready"]
    blocked: dict = {}
    thread = threading.Thread(target=lambda: blocked.update(response=site.get("/block?seconds=3")))
    thread.start()
    try:
        def dump() -> str:
            text = site.get(f"/web/debug/stacks/{worker['pid']}").body.decode()
            return text if "block_the_loop" in text else ""

        text = wait_until(dump, 10, "a stack dump inside block_the_loop")
        assert "Thread MainThread" in text and "time.sleep" in text
    finally:
        thread.join(20)
    assert blocked["response"].status == 200  # the dump did not stop or kill it
    assert psutil.Process(worker["pid"]).is_running()
    assert site.get("/web/debug/stacks/1").status == 404  # not one of the app's workers
    assert site.get("/web/debug/source?path=../supervisor.toml").status == 404
    assert site.get("/web/debug/source?path=/etc/passwd").status == 404
    files = site.get("/web/debug/files").json()
    assert files["files"] == ["dbgapp.py"]


def _listens_itself(pid: int, port: int) -> bool:
    """The process holds the listening socket on 127.0.0.1:port (only one socket can)."""
    return any(c.status == psutil.CONN_LISTEN and tuple(c.laddr) == ("127.0.0.1", port)
               for c in psutil.Process(pid).net_connections("tcp"))


async def _dap_initialize(port: int) -> None:
    """What VS Code does first: a DAP initialize on that port; it must get a DAP answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"seq": 1, "type": "request", "command": "initialize",
                       "arguments": {"adapterID": "debugpy"}}).encode()
    writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert b"Content-Length" in head
    writer.close()


async def _opt_in(site) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(site.url + "/web/debug/vscode", headers={"Origin": site.url}) as answer:
            assert answer.status == 200, await answer.text()
            access = await answer.json()
    # Once answered, the port accepts at once: one connect, no retry (the answer waits for the listen).
    socket.create_connection(("127.0.0.1", access["port"]), timeout=5).close()
    return access


async def test_vscode_gets_a_loopback_port_only_after_the_opt_in_and_kill_closes_it(make_site, tmp_path):
    site, _source = debug_site(make_site, tmp_path, workers=1)
    page = await asyncio.to_thread(site.get, "/web/debug/")
    assert b"Allow VS Code to attach" in page.body
    started_by_the_page = await asyncio.to_thread(debug_pid, site)
    access = await _opt_in(site)
    assert access["host"] == "127.0.0.1" and access["pid"] == await asyncio.to_thread(debug_pid, site)
    assert access["pid"] == started_by_the_page  # no debugger had run in it: no second start
    # The debug worker itself listens: no daemon outside its process tree (the master's orphan reaper
    # would kill one within seconds, closing the port under VS Code).
    assert _listens_itself(access["pid"], access["port"])
    assert json.loads(access["launch"])["configurations"][0]["connect"] == {"host": "127.0.0.1",
                                                                          "port": access["port"]}
    await _dap_initialize(access["port"])
    again = await _opt_in(site)  # asked twice: the same port, the same worker
    assert again == access
    await _dap_initialize(access["port"])  # a second client after the first left
    killed = await asyncio.to_thread(site.get, "/web/debug/?kill", headers={"Accept": "application/json"})
    assert killed.json()["debug_worker"] == "stopped"

    def port_closed() -> bool:
        try:
            socket.create_connection(("127.0.0.1", access["port"]), timeout=1).close()
            return False
        except OSError:
            return True

    await asyncio.to_thread(wait_until, port_closed, 15, "the VS Code port to close")


async def test_vscode_after_the_browser_debugger_gets_a_fresh_debug_worker(make_site, tmp_path):
    site, _source = debug_site(make_site, tmp_path, workers=1)
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(site), headers={"Origin": site.url}) as ws:
        attached = await DapClient(ws).state("attached")
        access = await _opt_in(site)  # the page's session ends: that process had pydevd, it cannot listen too
    assert access["pid"] != attached["pid"]
    assert not psutil.pid_exists(attached["pid"]) or psutil.Process(attached["pid"]).status() == psutil.STATUS_ZOMBIE
    assert _listens_itself(access["pid"], access["port"])
    await _dap_initialize(access["port"])


def test_debug_false_leaves_the_url_to_the_app(make_site, tmp_path):
    site, _source = debug_site(make_site, tmp_path, workers=1, start=False)
    site.write_config(site.config_path.read_text().replace('watch = ["*.py"]', 'watch = ["*.py"]\ndebug = false'))
    site.start()
    answer = site.get("/web/debug/")
    assert answer.status == 404 and answer.body == b"404: Not Found"  # aiohttp's own 404: the app answered
    assert debug_pid(site) is None
