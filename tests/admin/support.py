"""Test helpers for the admin app: a SiteView over real folders, the app served in a thread, plain HTTP."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import ipaddress
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from aiohttp import web

from pysupervise.admin import AdminAccess, create_admin_app
from pysupervise.config import AdminSegments, AdminSettings, LogSettings
from pysupervise.logs.app_logs import AppLogs
from tests.support.site import Response  # noqa: F401  (the admin tests' HTTP answers: same shape)

T = TypeVar("T")
TOKEN = "s3cret-token"


def log_settings(max_file_size: int = 1024 * 1024, max_total_size: int = 64 * 1024 * 1024,
                 max_files: int = 100) -> LogSettings:
    return LogSettings(max_file_size=max_file_size, max_total_size=max_total_size, max_files=max_files)


def admin_settings(**overrides: Any) -> AdminSettings:
    """The documented defaults (through the real config loader, so new keys never break this), overridden."""
    import dataclasses

    from pysupervise.config import parse_config

    defaults = parse_config('[apps.a]\napp = "m:a"\n', Path("/tmp/supervisor.toml"), "supervisor.toml").admin
    values: dict[str, Any] = {"allow": (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1"))}
    values.update(overrides)
    return dataclasses.replace(defaults, **values)


@dataclass
class FolderSite:
    """A SiteView over real log folders: one AppLogs per app, events kept in a list like EventLog.recent."""

    root: Path
    settings: LogSettings
    apps: dict[str, AppLogs] = field(default_factory=dict)
    events: dict[str, list[str]] = field(default_factory=dict)
    # Apps' own admin segments ([apps.X] *_segment); the others get `admin`'s.
    segments: dict[str, AdminSegments] = field(default_factory=dict)
    admin: AdminSettings = field(default_factory=lambda: admin_settings())

    def add_app(self, name: str) -> AppLogs:
        self.apps[name] = AppLogs(self.root / name, self.settings)
        self.events[name] = []
        return self.apps[name]

    def app_names(self) -> list[str]:
        return list(self.apps)

    def logs(self, app: str) -> AppLogs | None:
        return self.apps.get(app)

    def log_dir(self, app: str) -> Path:
        return self.root / app

    def recent_events(self, app: str) -> list[str]:
        return list(self.events.get(app, []))

    def admin_segments(self, app: str) -> AdminSegments:
        return self.segments.get(app) or self.admin.segments()

    def app_status(self, app: str) -> dict[str, Any]:
        return {"app": app, "route": [f"/{app}"], "state": "running", "generation": 1,
                "workers": [{"slot": 0, "state": "ready"}]}

    def site_status(self) -> dict[str, Any]:
        return {"task_errors": {}, "apps": [self.app_status(app) for app in self.apps]}


class AdminThread:
    """The real admin app on aiohttp's real server (TCP on 127.0.0.1), on an event loop in a thread.

    Everything touching the AppLogs indexes goes through call(), so the index stays single-threaded
    as it is in the master.
    """

    def __init__(self, site: FolderSite, settings: AdminSettings, token: str | None,
                 access: AdminAccess | None = None) -> None:
        self.site = site
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.app = create_admin_app(site, settings, token, access=access)
        self.runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2)
        self.port = self._run(self._start())

    async def _start(self) -> int:
        await self.runner.setup()
        tcp = web.TCPSite(self.runner, "127.0.0.1", 0)
        await tcp.start()
        return tcp._server.sockets[0].getsockname()[1]

    def _run(self, coroutine: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, fn: Callable[[], T], timeout: float = 10) -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._run(self.runner.cleanup(), timeout=20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def request(port: int, path: str, headers: dict[str, str] | list[tuple[str, str]] | None = None,
            method: str = "GET", timeout: float = 10) -> Response:
    """One request, the path sent exactly as given (no normalisation), headers in order, duplicates kept."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in pairs:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return Response(response.status, response.getheaders(), body)
    finally:
        connection.close()


def local(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Headers of a request the proxy forwarded from a loopback client."""
    return {"X-Forwarded-For": "127.0.0.1", **(extra or {})}


@dataclass(frozen=True)
class SseEvent:
    id: str | None
    data: str


class SseClient:
    """A plain HTTP client reading a text/event-stream response one event at a time."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.connection.request("GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        self.response = self.connection.getresponse()
        self.status = self.response.status

    def next_event(self) -> SseEvent:
        """The next event that carries data (comments and retry lines are skipped); raises on timeout."""
        event_id: str | None = None
        data: list[str] = []
        while True:
            raw = self.response.readline()
            if not raw:
                raise ConnectionError("the event stream ended")
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data:
                    return SseEvent(event_id, "\n".join(data))
                event_id = None
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                event_id = value
            elif name == "data":
                data.append(value)

    def lines_until(self, predicate: Callable[[list[str]], bool]) -> tuple[list[str], list[SseEvent]]:
        """Collect the lines of events until predicate(lines) holds (each read times out on its own)."""
        lines: list[str] = []
        events: list[SseEvent] = []
        while not predicate(lines):
            event = self.next_event()
            events.append(event)
            lines += json.loads(event.data)["lines"]
        return lines, events

    def close(self) -> None:
        self.connection.close()
