"""The request handlers of the log browser: the apps index, an app's log index, file view, raw file and tail."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from aiohttp import web

from pysupervise.admin import status as status_html
from pysupervise.admin import templates
from pysupervise.admin.assets import asset_response
from pysupervise.admin.files import SIDE_FILES, ShownFile, app_logs, read_tail_text, resolve
from pysupervise.admin.responses import error_response, not_found, request_id, wants_json
from pysupervise.admin.tail import LogTail, TailHub, stream_tail
from pysupervise.admin.urls import AdminUrls
from pysupervise.admin.view import SiteView
from pysupervise.logs.app_logs import parse_worker_file

# The file view shows at most this much of a file (the raw link has the rest); a search looks further back.
VIEW_BYTES = 1024 * 1024
SEARCH_BYTES = 8 * 1024 * 1024
MAX_QUERY = 200


class LogPages:
    """Handlers over one SiteView; every one of them runs behind the access middleware."""

    def __init__(self, site: SiteView, urls: AdminUrls, hub: TailHub) -> None:
        self.site = site
        self.urls = urls
        self.hub = hub

    def _html(self, request: web.Request, title: str, crumbs: list[tuple[str, str | None]], body: str) -> web.Response:
        text = templates.page(self.urls, title, crumbs, body, request_id(request))
        return web.Response(text=text, content_type="text/html", charset="utf-8")

    # -- index of apps --------------------------------------------------------------------------

    async def apps(self, request: web.Request) -> web.StreamResponse:
        if request.path == self.urls.index_root and self.urls.index_root:
            return web.Response(status=302, headers={"Location": self.urls.index()})
        apps = [(name, self._status(name)) for name in self.site.app_names()]
        if wants_json(request):
            return web.json_response({"metrics": self.urls.metrics(),
                                      "apps": [self._glance(name, status) for name, status in apps]})
        return self._html(request, "Apps", [("apps", None)], status_html.apps_index(self.urls, apps))

    def _glance(self, app: str, status: dict[str, Any]) -> dict[str, Any]:
        """One app of the index as JSON: the facts the HTML row shows, and its pages."""
        ready, total = status_html.ready_count(status)
        return {"app": app, "state": status.get("state"), "failure": status.get("failure") or "",
                "generation": status.get("generation"), "workers_ready": ready, "workers": total,
                "requests": status.get("requests_total"), "restarts": status.get("restarts"),
                "reloads_failed": status.get("reloads_failed"), "logs": self.urls.logs(app),
                "status": self.urls.status(app),
                "debug": self.urls.debug(app) if status_html.debug_enabled(status) else None}

    def _status(self, app: str) -> dict[str, Any]:
        try:
            return self.site.app_status(app)
        except Exception:  # the index must still list the app if its status cannot be read right now
            return {"state": "unknown"}

    async def asset(self, request: web.Request) -> web.StreamResponse:
        return asset_response(request.match_info["asset"]) or not_found(request)

    # -- an app's log index ---------------------------------------------------------------------

    async def logs_index(self, request: web.Request) -> web.StreamResponse:
        app = request.match_info["app"]
        logs = app_logs(self.site, app)
        if logs is None:
            return not_found(request)
        files = logs.files()
        live = {f.name for f in files if logs.is_live(f.name)}
        folder = self.site.log_dir(app)
        side = [templates.SideFileRow(name, _size(folder / name)) for name in SIDE_FILES]
        events = list(self.site.recent_events(app))[-100:]
        if wants_json(request):
            return web.json_response({
                "app": app,
                "files": [{"name": f.name, "slot": f.slot, "pid": f.pid, "stream": f.stream, "created": f.created,
                           "size": f.size, "sequence": f.sequence, "live": f.name in live,
                           "view": self.urls.file(app, f.name), "raw": self.urls.raw(app, f.name)} for f in files],
                "side_files": [{"name": row.name, "size": row.size} for row in side],
                "events": events})
        settings = logs.settings
        limits = (f"{templates.human_size(logs.total_size)} of {templates.human_size(settings.max_total_size)}, "
                  f"at most {settings.max_files} files of {templates.human_size(settings.max_file_size)}")
        body = templates.logs_index(self.urls, app, files, live, side, events, limits)
        return self._html(request, f"{app} logs", [("apps", self.urls.index()), (app, None), ("logs", None)], body)

    # -- one file ---------------------------------------------------------------------------------

    async def file(self, request: web.Request) -> web.StreamResponse:
        if "raw" in request.query:
            return await self.raw(request)
        shown = self._resolve(request)
        if shown is None:
            return not_found(request)
        query = request.query.get("q", "").strip()[:MAX_QUERY]
        logs = app_logs(self.site, shown.app)
        earlier = later = None
        if logs is not None and shown.log is not None:
            siblings = [f for f in logs.files() if f.stream_key == shown.log.stream_key]
            earlier = max((f for f in siblings if f.sequence < shown.log.sequence), default=None,
                          key=lambda f: f.sequence)
            later = min((f for f in siblings if f.sequence > shown.log.sequence), default=None,
                        key=lambda f: f.sequence)
        live = logs is not None and logs.is_live(shown.name)

        def render() -> str:
            # Reading and rendering up to SEARCH_BYTES takes a while: off the loop that runs the proxy.
            text = read_tail_text(shown.path, SEARCH_BYTES if query else VIEW_BYTES)
            facts = templates.FileFacts(shown.app, shown.name, text.size, shown.log, live=live,
                                        earlier=earlier.name if earlier else None,
                                        later=later.name if later else None)
            return templates.file_view(self.urls, facts, text, query)

        try:
            body = await asyncio.get_running_loop().run_in_executor(None, render)
        except OSError:
            return not_found(request)  # purged between the lookup and the read
        crumbs = [("apps", self.urls.index()), (shown.app, None), ("logs", self.urls.logs(shown.app)),
                  (shown.name, None)]
        return self._html(request, f"{shown.name} · {shown.app}", crumbs, body)

    async def raw(self, request: web.Request) -> web.StreamResponse:
        """The file as bytes; aiohttp's FileResponse answers Range requests with 206."""
        shown = self._resolve(request)
        if shown is None:
            return not_found(request)
        return web.FileResponse(shown.path, headers={
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Disposition": f'inline; filename="{shown.name}"',
        })

    async def tail(self, request: web.Request) -> web.StreamResponse:
        """SSE from `?from=<offset>` (default: the end), or from Last-Event-ID after a reconnect."""
        shown = self._resolve(request)
        app = request.match_info["app"]
        logs = app_logs(self.site, app)
        if logs is None:
            return not_found(request)
        requested = request.match_info["name"]
        start, resumed = self._resume_point(request, app, requested)
        shown = resumed or shown
        if shown is None:
            return not_found(request)
        if request.method == "HEAD":
            return web.Response(content_type="text/event-stream")
        if start is None:
            start = _size(shown.path) or 0
        if not self.hub.enter():
            return error_response(request, 503, "too many live tails are open; close some tabs and retry")
        try:
            tail = LogTail(logs, shown, start, request.query.get("q", "").strip()[:MAX_QUERY])
        except OSError:
            self.hub.leave()
            return not_found(request)
        try:
            return await stream_tail(request, self.hub, tail, requested)
        finally:
            self.hub.leave()

    def _resume_point(self, request: web.Request, app: str, requested: str) -> tuple[int | None, ShownFile | None]:
        """(offset, file to resume in). Last-Event-ID wins over ?from: "<offset>" is in the requested file,
        "<file>:<offset>" in a later rollover of the same worker stream (anything else is ignored)."""
        last_id = request.headers.get("Last-Event-ID", "").strip()
        name, _, offset = last_id.rpartition(":")
        if offset.isdigit() and len(offset) < 16:
            if not name:
                return int(offset), None
            base, later = parse_worker_file(Path(requested)), parse_worker_file(Path(name))
            if base and later and later.stream_key == base.stream_key and later.sequence > base.sequence:
                resumed = resolve(self.site, app, name)
                if resumed is not None:
                    return int(offset), resumed
        start = request.query.get("from", "")
        return (int(start) if start.isdigit() and len(start) < 16 else None), None

    def _resolve(self, request: web.Request) -> ShownFile | None:
        return resolve(self.site, request.match_info["app"], request.match_info["name"])


def _size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None
