"""The master's DAP relay seen by a hand-written WebSocket client: allow-list, ?brk, reloads, closing, idling."""

from __future__ import annotations

import asyncio

import aiohttp
import psutil

from tests.debugger.support import COOKIE, DapClient, debug_pid, debug_site, every_front_sends_to, line_of, ws_url
from tests.support.poll import wait_until


async def test_only_allow_listed_dap_commands_pass_and_the_master_alone_writes_attach(make_site, tmp_path):
    site, _source = debug_site(make_site, tmp_path, workers=1)
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(site), headers={"Origin": site.url}) as ws:
        dap = DapClient(ws)
        attached = await dap.state("attached")
        for command, arguments in [("attach", {"connect": {"host": "127.0.0.1", "port": 1}}),
                                   ("launch", {"program": "/bin/sh"}), ("setExceptionBreakpoints", {"filters": []}),
                                   ("setVariable", {"variablesReference": 1, "name": "x", "value": "1"}),
                                   ("terminate", {}), ("runInTerminal", {"args": ["id"]})]:
            answer = await dap.request(command, arguments)
            assert answer["success"] is False and "not allowed" in answer["message"], answer
        await dap.send("threads", type="event")  # not a request at all
        refused = await dap.until(lambda m: m.get("type") == "response" and not m["success"])
        assert "expected a DAP request" in refused["message"]
        threads = await dap.request("threads")
        assert threads["success"] and threads["body"]["threads"]
        assert psutil.Process(attached["pid"]).is_running()  # nothing above reached or hurt the worker


async def test_brk_pauses_at_the_apps_first_line_and_a_save_moves_the_breakpoints_to_the_new_code(make_site,
                                                                                                  tmp_path):
    site, source = debug_site(make_site, tmp_path, workers=1)
    line = line_of(source, "BREAK HERE")
    started = await asyncio.to_thread(site.get, "/web/debug/?brk")
    assert started.status == 200
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(site), headers={"Origin": site.url}) as ws:
        dap = DapClient(ws)
        first = await dap.state("attached")
        stopped = await dap.event("stopped")
        frames = (await dap.request("stackTrace", {"threadId": stopped["threadId"]}))["body"]["stackFrames"]
        assert frames[0]["name"] == "<module>" and frames[0]["line"] == 1
        assert frames[0]["source"]["path"] == str(source)
        answer = await dap.request("setBreakpoints", {"source": {"path": str(source)}, "breakpoints": [{"line": line}]})
        assert answer["body"]["breakpoints"][0]["verified"]
        assert (await dap.request("continue", {"threadId": stopped["threadId"]}))["success"]

        # A save: the app reloads and the debug worker follows it, its breakpoint set again.
        source.write_text(source.read_text().replace('VERSION = "one"', 'VERSION = "two"'))
        second = await dap.state("attached", timeout=30)
        assert second["pid"] != first["pid"] and second["generation"] > first["generation"]
        assert [b["verified"] for b in second["verified"][str(source)]] == [True]
        cookie = {"Cookie": f"{COOKIE}=1"}
        await asyncio.to_thread(wait_until, lambda: debug_pid(site) == second["pid"], 20, "the new debug worker")
        await asyncio.to_thread(every_front_sends_to, site, second["pid"], cookie, 20,
                                "every front to send the cookie to the new debug worker")
        request = asyncio.ensure_future(asyncio.to_thread(site.get, "/compute?n=5", headers=cookie, timeout=60))
        stopped = await dap.event("stopped")
        frame = (await dap.request("stackTrace", {"threadId": stopped["threadId"]}))["body"]["stackFrames"][0]
        assert frame["line"] == line
        value = await dap.request("evaluate", {"expression": "VERSION", "frameId": frame["id"], "context": "repl"})
        assert value["body"]["result"] == "'two'"
        await dap.request("continue", {"threadId": stopped["threadId"]})
        assert (await request).json()["version"] == "two"


async def test_closing_the_page_resumes_a_paused_request_then_stops_the_debug_worker(make_site, tmp_path):
    site, source = debug_site(make_site, tmp_path, workers=1)
    line = line_of(source, "BREAK HERE")
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(ws_url(site), headers={"Origin": site.url}) as ws:
            dap = DapClient(ws)
            attached = await dap.state("attached")
            debug = {"X-Pysupervise-Debug": "1"}
            await asyncio.to_thread(every_front_sends_to, site, attached["pid"], debug, 20,
                                    "every front to send the debug header to the debug worker")
            await dap.request("setBreakpoints", {"source": {"path": str(source)}, "breakpoints": [{"line": line}]})
            request = asyncio.ensure_future(asyncio.to_thread(site.get, "/compute?n=4", headers=debug, timeout=60))
            await dap.event("stopped")
        # The tab is gone: the master disconnects, the worker finishes the request and stops.
        response = await asyncio.wait_for(request, 30)
        assert response.status == 200 and response.json()["doubled"] == 8
        assert response.json()["pid"] == attached["pid"]
        await asyncio.to_thread(wait_until, lambda: not psutil.pid_exists(attached["pid"]), 15,
                                "the debug worker to stop")
    events = (site.log_dir / "web" / "events.log").read_text()
    assert "reason='the last debugger page was closed'" in events


async def test_an_idle_session_detaches_after_debug_idle_timeout(make_site, tmp_path):
    site, _source = debug_site(make_site, tmp_path, workers=1, extra="\n[admin]\ndebug_idle_timeout = 1\n")
    async with aiohttp.ClientSession() as http, http.ws_connect(ws_url(site), headers={"Origin": site.url}) as ws:
        dap = DapClient(ws)
        attached = await dap.state("attached")
        ended = await dap.state("ended", timeout=15)
        assert "debug_idle_timeout" in ended["message"]
        assert (await ws.receive(timeout=10)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                                       aiohttp.WSMsgType.CLOSING)
    await asyncio.to_thread(wait_until, lambda: not psutil.pid_exists(attached["pid"]), 15, "the debug worker to stop")
