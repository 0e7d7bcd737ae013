"""AdminServer: the admin app served on a Unix socket (the proxy's upstream for admin URLs), start and stop."""

from __future__ import annotations

import os
from pathlib import Path

from aiohttp import web

# Tails end at once on shutdown (TailHub.close); this only bounds a page render that is still running.
_SHUTDOWN_SECONDS = 2.0


class AdminServer:
    """Start/stop pair for the admin app on `socket_path`; the socket is removed again on stop."""

    def __init__(self, app: web.Application, socket_path: Path) -> None:
        self.app = app
        self.socket_path = socket_path
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self._unlink()
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_SECONDS)
        await runner.setup()
        try:
            await web.UnixSite(runner, str(self.socket_path)).start()
        except BaseException:
            await runner.cleanup()
            raise
        # Only this user (the master) and the proxy inside it connect; the access check relies on that.
        os.chmod(self.socket_path, 0o600)
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._unlink()

    def _unlink(self) -> None:
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
