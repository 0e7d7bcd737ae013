"""The per-app commands of the control socket (`pysupervise restart | stop | start | scale APP`), and the apps an
operator stopped, remembered in run_dir so that a restarted master keeps them down."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from pysupervise.config import AppConfig
from pysupervise.supervisor.service.app_names_file import AppNamesFile
from pysupervise.supervisor.service.control_server import Handler, single

if TYPE_CHECKING:
    from pysupervise.supervisor.app_host import AppHost

# More would be a typo: each worker is a process.
MAX_WORKERS = 1024


def stopped_message(app: str) -> str:
    """What the 503 page (or JSON) of an app stopped by the operator says."""
    return f"app {app!r} is stopped by the operator; `pysupervise start {app}` starts it again"


class StoppedApps(AppNamesFile):
    """run_dir/stopped-apps.json: the apps an operator stopped (kept down even if writing the file fails)."""

    def add(self, app: str) -> str:
        """Remember `app`; returns why it could not be written ("" when it was)."""
        return self._change(self._names | {app}, write_unchanged=True)

    def discard(self, app: str) -> str:
        return self._change(self._names - {app}, write_unchanged=True)


class AppCommands:
    """Answers restart, stop-app, start-app and scale for the master's live `hosts` mapping."""

    def __init__(self, hosts: dict[str, "AppHost"], stopped: StoppedApps,
                 current_config: Callable[[str], AppConfig | None]) -> None:
        self._hosts = hosts
        self._stopped = stopped
        # The app's config as the master last read it (saves of supervisor.toml are not applied to a stopped app).
        self._current_config = current_config

    def handlers(self) -> dict[str, Handler]:
        return {"restart": single(self.restart), "stop-app": single(self.stop), "start-app": single(self.start),
                "scale": single(self.scale)}

    def _find(self, request: dict[str, Any]) -> tuple["AppHost | None", dict[str, Any]]:
        name = request.get("app")
        host = self._hosts.get(name) if isinstance(name, str) else None
        if host is None:
            return None, {"ok": False, "usage": True,
                          "error": f"no app named {name!r} (apps: {', '.join(self._hosts) or 'none'})"}
        return host, {}

    @staticmethod
    def _outcome(host: "AppHost", ok: bool) -> dict[str, Any]:
        last = host.last_reload
        return {"ok": ok, "app": host.name, "generation": last.get("generation"), "error": last.get("error", ""),
                "late_fronts": last.get("late_fronts", [])}

    async def restart(self, request: dict[str, Any]) -> dict[str, Any]:
        """A new generation from the same config, even with nothing changed; the old one drains."""
        host, error = self._find(request)
        if host is None:
            return error
        if host.held:
            return {"ok": False, "app": host.name, "error": stopped_message(host.name)}
        return self._outcome(host, await host.reload("pysupervise restart"))

    async def stop(self, request: dict[str, Any]) -> dict[str, Any]:
        """503 from now on, its workers drained and stopped; remembered across master restarts."""
        host, error = self._find(request)
        if host is None:
            return error
        if host.held:
            return {"ok": True, "app": host.name, "already": True}
        not_saved = self._stopped.add(host.name)
        await host.hold(stopped_message(host.name))
        return {"ok": True, "app": host.name, "not_saved": not_saved}

    async def start(self, request: dict[str, Any]) -> dict[str, Any]:
        host, error = self._find(request)
        if host is None:
            return error
        if not host.held:
            return {"ok": True, "app": host.name, "already": True, "state": host.state,
                    "generation": host.live.number if host.live is not None else None}
        not_saved = self._stopped.discard(host.name)
        started = await host.release(self._current_config(host.name) or host.config)
        return {**self._outcome(host, started), "not_saved": not_saved}

    async def scale(self, request: dict[str, Any]) -> dict[str, Any]:
        """N workers for the live generation: extra slots start, surplus slots drain; no new generation."""
        host, error = self._find(request)
        if host is None:
            return error
        count = request.get("workers")
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_WORKERS:
            return {"ok": False, "usage": True, "error": f"the worker count must be 1 to {MAX_WORKERS}, got {count!r}"}
        if host.held:
            return {"ok": False, "app": host.name, "error": stopped_message(host.name)}
        before = host.live.size if host.live is not None else 0
        try:
            not_started = await host.scale(count)
        except ValueError as exc:
            return {"ok": False, "app": host.name, "error": str(exc)}
        return {"ok": not not_started, "app": host.name, "workers": count, "before": before,
                "not_started": not_started, "generation": host.live.number if host.live is not None else None}
