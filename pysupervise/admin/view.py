"""What the admin app may know about the running site: a read-only view the master hands in."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from pysupervise.config import AdminSegments
from pysupervise.logs.app_logs import AppLogs


class SiteView(Protocol):
    """Read-only facts about the hosted apps; the admin app never reaches into the master otherwise."""

    def app_names(self) -> list[str]:
        """The configured apps, in the order the index lists them."""
        ...

    def logs(self, app: str) -> AppLogs | None:
        """The app's log folder index (shared with its StreamWriters); None for an unknown app."""
        ...

    def log_dir(self, app: str) -> Path:
        """<log_dir>/<app>: where events.log and access.log live beside the worker files."""
        ...

    def recent_events(self, app: str) -> list[str]:
        """The app's recent events.log lines, newest last."""
        ...

    def admin_segments(self, app: str) -> AdminSegments:
        """Where the app's admin pages live ([apps.X] *_segment, else [admin]); the [admin] ones for an unknown app."""
        ...

    def app_status(self, app: str) -> dict[str, Any]:
        """pysupervise.supervisor.status.app_status() of the app."""
        ...

    def site_status(self) -> dict[str, Any]:
        """Master-wide facts (url, pid, task_errors, ...) and `apps`: every app's app_status(), as `status --json`."""
        ...
