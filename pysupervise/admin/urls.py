"""The admin app's URL map, spelled in one place for the router and for the links in pages."""

from __future__ import annotations

from typing import Callable
from urllib.parse import quote, urlencode

from aiohttp import web

from pysupervise.admin.assets import VERSION
from pysupervise.admin.responses import Handler
from pysupervise.config import AdminSegments, AdminSettings

RAW = "raw"
TAIL = "tail"
EVENTS = "events"
METRICS = "metrics"
# The pages an app has, each at /<app>/<its segment> (AdminSegments.kind_of).
LOGS, STATUS, DEBUG = "logs", "status", "debug"
# An app's pages: "/{app}/{segment}" + a suffix, where {segment} must be that app's segment for the page.
APP_PAGE = "/{app}/{segment}"


class AdminUrls:
    """/<app>/<logs segment>[/…], /<app>/<status segment>[/events], /<app>/<debug segment>, and under
    <index_path>: the index, assets, metrics and each app's status page at <index_path>/<app>/[events].

    The segments are each app's own ([apps.X] *_segment, else [admin]); `segments_of` reads them from the
    running site, as apps and their segments change with config reloads.
    """

    def __init__(self, settings: AdminSettings, segments_of: Callable[[str], AdminSegments] | None = None) -> None:
        self.settings = settings
        self._segments_of = segments_of
        # url_prefix keeps "/" as is and drops any other trailing slash.
        self.index_root = settings.index_path.rstrip("/")

    def segments(self, app: str) -> AdminSegments:
        """The app's segments; an app the site does not know gets the [admin] ones (its pages then say 404)."""
        return self._segments_of(app) if self._segments_of is not None else self.settings.segments()

    def kind_of(self, app: str, segment: str) -> str | None:
        return self.segments(app).kind_of(segment)

    # -- links --------------------------------------------------------------------------------------

    def index(self) -> str:
        return f"{self.index_root}/"

    def asset(self, name: str) -> str:
        return f"{self.index_root}/assets/{VERSION}/{name}"

    def logs(self, app: str) -> str:
        return f"/{quote(app)}/{self.segments(app).logs}"

    def file(self, app: str, name: str) -> str:
        return f"{self.logs(app)}/{quote(name)}"

    def raw(self, app: str, name: str) -> str:
        return f"{self.logs(app)}/{RAW}/{quote(name)}"

    def tail(self, app: str, name: str, start: int | None = None, query: str = "") -> str:
        params: dict[str, str] = {}
        if start is not None:
            params["from"] = str(start)
        if query:
            params["q"] = query
        return f"{self.logs(app)}/{TAIL}/{quote(name)}" + (f"?{urlencode(params)}" if params else "")

    def status(self, app: str, home: bool = False) -> str:
        """/<app>/<status segment>, or with `home` the same page at <index_path>/<app>/ (never the app's URL)."""
        if home:
            return f"{self.index_root}/{quote(app)}/"
        return f"/{quote(app)}/{self.segments(app).status}"

    def status_json(self, app: str, home: bool = False) -> str:
        return f"{self.status(app, home)}?format=json"

    def status_events(self, app: str, home: bool = False) -> str:
        return f"{self.status(app, home).rstrip('/')}/{EVENTS}"

    def metrics(self) -> str:
        return f"{self.index_root}/{METRICS}"

    def debug(self, app: str) -> str:
        return f"/{quote(app)}/{self.segments(app).debug}"

    # -- router patterns ----------------------------------------------------------------------------

    def index_patterns(self) -> dict[str, str]:
        """The URLs under index_path (the apps' status pages at <index_path>/<app>/ included)."""
        return {
            "apps": self.index_root or "/",
            "apps_slash": f"{self.index_root}/",
            "asset": self.index_root + "/assets/{version}/{asset}",
            "metrics": f"{self.index_root}/{METRICS}",
            "status_home": self.index_root + "/{app}/",
            "status_home_events": self.index_root + "/{app}/" + EVENTS,
        }

    def app_page_patterns(self) -> dict[str, tuple[str, str]]:
        """name → (page kind, the suffix after /{app}/{segment}) of the log browser and the status page."""
        return {
            "logs": (LOGS, ""),
            "logs_slash": (LOGS, "/"),
            "raw": (LOGS, f"/{RAW}/" + "{name}"),
            "tail": (LOGS, f"/{TAIL}/" + "{name}"),
            "file": (LOGS, "/{name}"),
            "status": (STATUS, ""),
            "status_slash": (STATUS, "/"),
            "status_events": (STATUS, f"/{EVENTS}"),
        }

    def add_app_page(self, router: web.UrlDispatcher, kind: str, suffix: str, handler: Handler, name: str,
                     method: str = "GET") -> None:
        """Route /{app}/{segment}<suffix> to `handler` where {segment} is the app's segment for `kind`."""
        resource = AppPageResource(APP_PAGE + suffix, kind, self, name=name)
        router.register_resource(resource)
        resource.add_route(method, handler)
        if method == "GET":
            resource.add_route("HEAD", handler)  # as router.add_get does


class AppPageResource(web.DynamicResource):
    """A pattern under /{app}/{segment} that matches only where {segment} names page `kind` of that app.

    The segments are per app and change with config reloads, after the router is frozen, so no fixed
    pattern could spell them; a path that is not this page goes on to the next resource, as any miss does.
    """

    def __init__(self, path: str, kind: str, urls: AdminUrls, name: str | None = None) -> None:
        super().__init__(path, name=name)
        self._kind = kind
        self._urls = urls

    def _match(self, path: str) -> dict[str, str] | None:
        found = super()._match(path)
        if found is None or self._urls.kind_of(found["app"], found["segment"]) != self._kind:
            return None
        return found
