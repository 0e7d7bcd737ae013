"""The status handlers: /<app>/status (and <index_path>/<app>/) as HTML, JSON and a live event stream, and the request
rate they show."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from typing import Any, Callable

from aiohttp import web

from pysupervise.admin import status as status_html
from pysupervise.admin import templates
from pysupervise.admin.responses import error_response, not_found, request_id, wants_json
from pysupervise.admin.status import Rate
from pysupervise.admin.tail import HEARTBEAT_SECONDS, TailHub
from pysupervise.admin.urls import AdminUrls
from pysupervise.admin.view import SiteView
from pysupervise.periodic import TaskErrors

# How often an open status page gets a fresh snapshot (each one reads every worker's RSS and CPU).
PERIOD_SECONDS = 1.0
# Without JavaScript the page reloads itself this often.
STATIC_REFRESH_SECONDS = 5
RATE_WINDOW_SECONDS = 10.0
# Two snapshots closer than this make a rate of noise; samples closer than this are not kept apart either.
_MIN_SPAN_SECONDS = 0.25


class RequestRates:
    """Per app, recent (time, requests_total) samples from every snapshot taken; the rate is the growth between
    the oldest sample of the window and now. Shared by all open pages, so each new page has a rate at once."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def observe(self, app: str, total: int | None) -> Rate | None:
        """Record a snapshot's requests_total; the rate since the window's first sample, or None if too early."""
        if total is None:
            return None
        now = self._clock()
        samples = self._samples.setdefault(app, deque())
        if samples and total < samples[-1][1]:
            samples.clear()  # the counter started over: the app was removed and added again
        if not samples or now - samples[-1][0] >= _MIN_SPAN_SECONDS:
            samples.append((now, total))
        # Keep the newest sample at or before the window's start as the baseline, drop the ones before it.
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()
        since, first = samples[0]
        span = now - since
        if span < _MIN_SPAN_SECONDS:
            return None
        return Rate((total - first) / span, span)

    def forget_others(self, apps: list[str]) -> None:
        """Drop the samples of apps that are no longer configured."""
        for gone in set(self._samples) - set(apps):
            del self._samples[gone]


class StatusPages:
    """Handlers over one SiteView, behind the access middleware like every admin page."""

    def __init__(self, site: SiteView, urls: AdminUrls, hub: TailHub, rates: RequestRates | None = None,
                 errors: TaskErrors | None = None) -> None:
        self.site = site
        self.urls = urls
        self.hub = hub
        self.rates = rates or RequestRates()
        self.errors = errors or TaskErrors()

    def snapshot(self, app: str) -> tuple[dict[str, Any], Rate | None] | None:
        """The app's status and its request rate; None when no such app is configured (any more)."""
        names = self.site.app_names()
        if app not in names:
            return None
        self.rates.forget_others(names)
        status = self.site.app_status(app)
        return status, self.rates.observe(app, status.get("requests_total"))

    async def page(self, request: web.Request) -> web.StreamResponse:
        return self._page(request, home=False)

    async def home_page(self, request: web.Request) -> web.StreamResponse:
        """The same page at <index_path>/<app>/: its URL is never the app's, whatever the app's routes cover."""
        return self._page(request, home=True)

    def _page(self, request: web.Request, home: bool) -> web.StreamResponse:
        app = request.match_info["app"]
        found = self.snapshot(app)
        if found is None:
            return not_found(request)
        status, rate = found
        if wants_json(request) or request.query.get("format") == "json":
            return web.json_response(as_json(status, rate))
        body = status_html.status_page(self.urls, app, status, rate, status_html.debug_enabled(status), home)
        # Only browsers without JavaScript reload; with it, the event stream keeps the page current.
        head = f'<noscript><meta http-equiv="refresh" content="{STATIC_REFRESH_SECONDS}"></noscript>'
        crumbs = [("apps", self.urls.index()), (app, None), ("status", None)]
        text = templates.page(self.urls, f"{app} status", crumbs, body, request_id(request), head=head)
        return web.Response(text=text, content_type="text/html", charset="utf-8")

    async def events(self, request: web.Request) -> web.StreamResponse:
        """SSE: the page's live parts, rendered again every PERIOD_SECONDS, until the client or the app leaves."""
        app = request.match_info["app"]
        if app not in self.site.app_names():
            return not_found(request)
        if request.method == "HEAD":
            return web.Response(content_type="text/event-stream")
        if not self.hub.enter():
            return error_response(request, 503, "too many live pages are open; close some tabs and retry")
        try:
            return await self._stream(request, app)
        finally:
            self.hub.leave()

    async def _stream(self, request: web.Request, app: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                               "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        last_payload = ""
        sent_at = loop.time()
        try:
            await response.write(b"retry: 2000\n\n")
            while not self.hub.closing:
                try:
                    found = self.snapshot(app)
                    payload = json.dumps({"html": status_html.live_parts(*found)}) if found is not None else ""
                except Exception as exc:  # one bad snapshot: the page keeps its last one and tries again
                    self.errors.report("status-page", exc)
                    await self.hub.pause(PERIOD_SECONDS)
                    continue
                if found is None:
                    break  # the app was removed from the config: the page's reconnect gets the 404
                # Uptime changes every second, so this sends nearly every time; an idle app sends less.
                if payload != last_payload or loop.time() - sent_at >= HEARTBEAT_SECONDS:
                    await response.write(f"data: {payload}\n\n".encode())
                    last_payload, sent_at = payload, loop.time()
                await self.hub.pause(PERIOD_SECONDS)
        except ConnectionError:
            pass  # the client left
        return response


def as_json(status: dict[str, Any], rate: Rate | None) -> dict[str, Any]:
    """The status as app_status() gives it, plus the measured rate."""
    measured = {"per_second": round(rate.per_second, 3), "seconds": round(rate.seconds, 1)} if rate else None
    return {**status, "request_rate": measured}
