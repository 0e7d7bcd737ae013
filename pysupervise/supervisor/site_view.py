"""The read-only view of the running site that the admin pages get (admin.SiteView), over the master's apps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from pysupervise.config import AdminSegments, AdminSettings
from pysupervise.logs.app_logs import AppLogs
from pysupervise.supervisor.paths import SitePaths
from pysupervise.supervisor.status import app_status

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost


class MasterView:
    """Reads the master's live `hosts` mapping (apps come and go with config reloads)."""

    def __init__(self, hosts: dict[str, "AppHost"], paths: SitePaths, admin: AdminSettings,
                 site_facts: Callable[[], dict[str, Any]] | None = None,
                 status_of: Callable[["AppHost"], dict[str, Any]] = app_status) -> None:
        self._hosts = hosts
        # app_status(), or the master's, which adds the role of each side of an app with a staging folder.
        self._status_of = status_of
        self._paths = paths
        self._admin = admin
        self._site_facts = site_facts

    def app_names(self) -> list[str]:
        return list(self._hosts)

    def logs(self, app: str) -> AppLogs | None:
        host = self._hosts.get(app)
        return host.logs if host is not None else None

    def log_dir(self, app: str) -> Path:
        return self._paths.app_log_dir(app)

    def recent_events(self, app: str) -> list[str]:
        host = self._hosts.get(app)
        return list(host.events.recent) if host is not None else []

    def admin_segments(self, app: str) -> AdminSegments:
        host = self._hosts.get(app)
        return self._admin.segments(host.config if host is not None else None)

    def app_status(self, app: str) -> dict[str, Any]:
        return self._status_of(self._hosts[app])

    def site_status(self) -> dict[str, Any]:
        """Master-wide facts: url, pid, started, config_error, bus (the same dict `pysupervise status --json`
        prints, apps included)."""
        facts = self._site_facts() if self._site_facts is not None else {}
        return {**facts, "apps": [self._status_of(h) for h in self._hosts.values()]}
