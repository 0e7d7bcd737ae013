"""HTTP handlers of /<app>/debug: the page (and ?brk, ?kill), source files, workers, stack dumps, the VS Code opt-in."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path

from aiohttp import web

from pysupervise.admin.debug import template
from pysupervise.admin.debug.assets import DebugAssets
from pysupervise.admin.debug.relay import same_origin
from pysupervise.admin.debug.sources import list_sources, read_source, resolve_source
from pysupervise.admin.responses import error_response, not_found, wants_json
from pysupervise.admin.urls import AdminUrls
from pysupervise.debugger.contract import DebugControl, DebugError, DebugTarget

COOKIE_PREFIX = "pysupervise_debug_"


class DebugPages:
    """Handlers over one DebugControl; every one of them runs behind the admin access middleware."""

    def __init__(self, control: DebugControl, urls: AdminUrls, assets: DebugAssets) -> None:
        self.control = control
        self.urls = urls
        self.assets = assets

    def base(self, app: str) -> str:
        return self.urls.debug(app) + "/"

    def _target(self, request: web.Request) -> DebugTarget:
        target = self.control.target(request.match_info["app"])
        if target is None:
            raise web.HTTPNotFound()
        return target

    def _dir(self, request: web.Request) -> Path:
        return self._target(request).dir

    # -- the page ---------------------------------------------------------------------------------

    async def redirect(self, request: web.Request) -> web.StreamResponse:
        self._dir(request)
        location = self.base(request.match_info["app"]) + (f"?{request.query_string}" if request.query_string else "")
        return web.Response(status=301, headers={"Location": location})

    async def page(self, request: web.Request) -> web.StreamResponse:
        app = request.match_info["app"]
        target = self._target(request)
        folder = target.dir
        base = self.base(app)
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            # A link on another site must not start (or stop) a debugger: one click here does it.
            text = "This link came from another site. Starting a debugger runs code on this server."
            return self._html(template.message_page(self.urls, app, "Open the debugger?", text,
                                                    ("Open the debugger", base + (f"?{request.query_string}"
                                                                                  if request.query_string else ""))))
        if "kill" in request.query:
            return await self._kill(request, app)
        problem = ""
        try:
            await self.control.start_worker(app, break_at_start="brk" in request.query)
        except DebugError as exc:
            problem = f"No debug worker: {exc}"
        facts = template.DebugPageFacts(app, base, os.path.realpath(folder), _entry_file(target), problem,
                                        self.control.idle_timeout)
        js = f"{base}assets/{self.assets.version}/debugger.js"
        css = f"{base}assets/{self.assets.version}/debugger.css"
        response = self._html(template.debugger_page(self.urls, facts, css, js))
        # This browser's requests to the app now reach the debug worker (the proxy routes by this cookie).
        response.set_cookie(COOKIE_PREFIX + app, "1", path="/", httponly=True, samesite="Strict",
                            secure=request.headers.get("X-Forwarded-Proto") == "https")
        return response

    async def _kill(self, request: web.Request, app: str) -> web.StreamResponse:
        stopped = await self.control.kill(app)
        answer = "stopped" if stopped else "not running"
        if wants_json(request):
            response: web.Response = web.json_response({"app": app, "debug_worker": answer})
        else:
            text = ("The debug session ended and the debug worker was stopped." if stopped
                    else "No debug worker was running.")
            response = self._html(template.message_page(self.urls, app, answer, text,
                                                        ("Start a new debug worker", self.base(app))))
        response.del_cookie(COOKIE_PREFIX + app, path="/")
        return response

    @staticmethod
    def _html(text: str) -> web.Response:
        return web.Response(text=text, content_type="text/html", charset="utf-8")

    async def asset(self, request: web.Request) -> web.StreamResponse:
        self._dir(request)
        return self.assets.response(request.match_info["asset"]) or not_found(request)

    # -- data for the page ------------------------------------------------------------------------

    async def files(self, request: web.Request) -> web.StreamResponse:
        folder = self._dir(request)
        names = await asyncio.get_running_loop().run_in_executor(None, list_sources, folder)
        return web.json_response({"dir": os.path.realpath(folder), "files": names})

    async def source(self, request: web.Request) -> web.StreamResponse:
        folder = self._dir(request)
        path = resolve_source(folder, request.query.get("path", ""))
        if path is None:
            return not_found(request)
        try:
            text = await asyncio.get_running_loop().run_in_executor(None, read_source, path)
        except OSError:
            return not_found(request)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Source-Path": str(path)})

    async def workers(self, request: web.Request) -> web.StreamResponse:
        self._dir(request)
        refs = self.control.workers(request.match_info["app"])
        return web.json_response({"workers": [dataclasses.asdict(ref) for ref in refs]})

    async def stacks(self, request: web.Request) -> web.StreamResponse:
        self._dir(request)
        pid = request.match_info["pid"]
        if not pid.isdigit():
            return not_found(request)
        try:
            text = await self.control.stack_dump(request.match_info["app"], int(pid))
        except DebugError as exc:
            return error_response(request, 404, str(exc))
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def vscode(self, request: web.Request) -> web.StreamResponse:
        app = request.match_info["app"]
        self._dir(request)
        if not same_origin(request):
            return error_response(request, 403, "only the debugger page itself may open the VS Code port")
        try:
            access = await self.control.hand_to_vscode(app)
        except DebugError as exc:
            return error_response(request, 503, str(exc))
        launch = {"name": f"Attach to {app} (pysupervise debug worker)", "type": "debugpy", "request": "attach",
                  "connect": {"host": access.host, "port": access.port}, "justMyCode": True}
        return web.json_response({**dataclasses.asdict(access),
                                  "launch": json.dumps({"version": "0.2.0", "configurations": [launch]}, indent=2)})


def _entry_file(target: DebugTarget) -> str:
    """The file of the app's module ("module:attr"), relative to its dir: the page shows it first."""
    if not target.module:
        return ""
    module = target.module.replace(".", "/")
    for candidate in (f"{module}.py", f"{module}/__init__.py"):
        if (target.dir / candidate).is_file():
            return candidate
    return ""
