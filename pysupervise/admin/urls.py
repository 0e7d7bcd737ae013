"""The admin app's URL map, spelled in one place for the router and for the links in pages."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from pysupervise.admin.assets import VERSION
from pysupervise.config import AdminSettings

RAW = "raw"
TAIL = "tail"
EVENTS = "events"
METRICS = "metrics"


class AdminUrls:
    """/<app>/<logs_segment>[/…], /<app>/<status_segment>[/events], /<app>/<debug_segment> and <index_path>/[metrics]"""

    def __init__(self, settings: AdminSettings) -> None:
        self.settings = settings
        # url_prefix keeps "/" as is and drops any other trailing slash.
        self.index_root = settings.index_path.rstrip("/")

    # -- links --------------------------------------------------------------------------------------

    def index(self) -> str:
        return f"{self.index_root}/"

    def asset(self, name: str) -> str:
        return f"{self.index_root}/assets/{VERSION}/{name}"

    def logs(self, app: str) -> str:
        return f"/{quote(app)}/{self.settings.logs_segment}"

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

    def status(self, app: str) -> str:
        return f"/{quote(app)}/{self.settings.status_segment}"

    def status_json(self, app: str) -> str:
        return f"{self.status(app)}?format=json"

    def status_events(self, app: str) -> str:
        return f"{self.status(app)}/{EVENTS}"

    def metrics(self) -> str:
        return f"{self.index_root}/{METRICS}"

    def debug(self, app: str) -> str:
        return f"/{quote(app)}/{self.settings.debug_segment}"

    # -- router patterns ----------------------------------------------------------------------------

    def patterns(self) -> dict[str, str]:
        logs = "/{app}/" + self.settings.logs_segment
        status = "/{app}/" + self.settings.status_segment
        return {
            "apps": self.index_root or "/",
            "apps_slash": f"{self.index_root}/",
            "asset": self.index_root + "/assets/{version}/{asset}",
            "logs": logs,
            "logs_slash": logs + "/",
            "raw": logs + f"/{RAW}/" + "{name}",
            "tail": logs + f"/{TAIL}/" + "{name}",
            "file": logs + "/{name}",
            "status": status,
            "status_slash": status + "/",
            "status_events": status + f"/{EVENTS}",
            "metrics": f"{self.index_root}/{METRICS}",
        }
