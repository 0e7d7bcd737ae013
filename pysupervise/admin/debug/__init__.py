"""The debugger at /<app>/debug: a page, its DAP WebSocket and its data, mounted on the admin app."""

from __future__ import annotations

from aiohttp import web

from pysupervise.admin.debug.assets import DebugAssets
from pysupervise.admin.debug.pages import DebugPages
from pysupervise.admin.debug.relay import DapRelay
from pysupervise.admin.app import URLS_KEY
from pysupervise.admin.urls import DEBUG
from pysupervise.debugger.contract import DebugControl

__all__ = ["install_debugger"]


def install_debugger(app: web.Application, control: DebugControl) -> None:
    """Add the debugger's routes to the admin app (before it starts); its access middleware covers them. They sit
    at each app's own debug segment, like the app's other pages (the admin app's AdminUrls)."""
    urls = app[URLS_KEY]
    pages = DebugPages(control, urls, DebugAssets())
    relay = DapRelay(control)
    for suffix, handler, name, method in (
            ("", pages.redirect, "debugger", "GET"),
            ("/", pages.page, "debugger_page", "GET"),
            ("/files", pages.files, "debugger_files", "GET"),
            ("/source", pages.source, "debugger_source", "GET"),
            ("/workers", pages.workers, "debugger_workers", "GET"),
            ("/stacks/{pid}", pages.stacks, "debugger_stacks", "GET"),
            ("/vscode", pages.vscode, "debugger_vscode", "POST"),
            ("/ws", relay.handle, "debugger_ws", "GET"),
            ("/assets/{version}/{asset}", pages.asset, "debugger_asset", "GET")):
        urls.add_app_page(app.router, DEBUG, suffix, handler, name, method)

    async def end_sessions(_app: web.Application) -> None:
        await control.close()  # adapters disconnect, so no worker stays paused while the master stops

    app.on_shutdown.append(end_sessions)
