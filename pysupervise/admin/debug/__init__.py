"""The debugger at /<app>/debug: a page, its DAP WebSocket and its data, mounted on the admin app."""

from __future__ import annotations

from aiohttp import web

from pysupervise.admin.debug.assets import DebugAssets
from pysupervise.admin.debug.pages import DebugPages
from pysupervise.admin.debug.relay import DapRelay
from pysupervise.admin.urls import AdminUrls
from pysupervise.config import AdminSettings
from pysupervise.debugger.contract import DebugControl

__all__ = ["install_debugger"]


def install_debugger(app: web.Application, control: DebugControl, settings: AdminSettings) -> None:
    """Add the debugger's routes to the admin app (before it starts); its access middleware covers them."""
    urls = AdminUrls(settings)
    pages = DebugPages(control, urls, DebugAssets())
    relay = DapRelay(control)
    debug = "/{app}/" + settings.debug_segment
    router = app.router
    router.add_get(debug, pages.redirect, name="debugger")
    router.add_get(debug + "/", pages.page, name="debugger_page")
    router.add_get(debug + "/files", pages.files, name="debugger_files")
    router.add_get(debug + "/source", pages.source, name="debugger_source")
    router.add_get(debug + "/workers", pages.workers, name="debugger_workers")
    router.add_get(debug + "/stacks/{pid}", pages.stacks, name="debugger_stacks")
    router.add_post(debug + "/vscode", pages.vscode, name="debugger_vscode")
    router.add_get(debug + "/ws", relay.handle, name="debugger_ws")
    router.add_get(debug + "/assets/{version}/{asset}", pages.asset, name="debugger_asset")

    async def end_sessions(_app: web.Application) -> None:
        await control.close()  # adapters disconnect, so no worker stays paused while the master stops

    app.on_shutdown.append(end_sessions)
