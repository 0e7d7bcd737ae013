"""create_admin_app: the aiohttp app the master serves on its admin Unix socket, behind access control."""

from __future__ import annotations

from aiohttp import web

from pysupervise.admin.access import AdminAccess
from pysupervise.admin.metrics import MetricsPage
from pysupervise.admin.pages import LogPages
from pysupervise.admin.responses import add_common_headers, request_id_middleware
from pysupervise.admin.status_pages import StatusPages
from pysupervise.admin.tail import TailHub
from pysupervise.admin.urls import AdminUrls
from pysupervise.admin.view import SiteView
from pysupervise.config import AdminSettings
from pysupervise.periodic import TaskErrors

ACCESS_KEY = web.AppKey("pysupervise_admin_access", AdminAccess)
URLS_KEY = web.AppKey("pysupervise_admin_urls", AdminUrls)
TAILS_KEY = web.AppKey("pysupervise_admin_tails", TailHub)


def create_admin_app(site: SiteView, settings: AdminSettings, token: str | None = None,
                     listen_host: str = "", errors: TaskErrors | None = None,
                     access: AdminAccess | None = None) -> web.Application:
    """Every route of the returned app, including ones added to it later (debug), sits behind the access check.

    `access` is the rule the master also hands to the proxy; without it, one is made from settings.allow,
    `token` (the value of the environment variable named by settings.token_env, if any) and the site's names
    (`listen_host` and settings.hosts besides localhost and IP literals). `errors` counts and logs what goes
    wrong in the live pages' loops (the master's TaskErrors).
    """
    if access is None:
        access = AdminAccess(settings.allow, token, (*settings.hosts, *([listen_host] if listen_host else [])))
    urls = AdminUrls(settings, site.admin_segments)
    hub = TailHub()
    app = web.Application(middlewares=[request_id_middleware, access.middleware()])
    app[ACCESS_KEY] = access
    app[URLS_KEY] = urls
    app[TAILS_KEY] = hub
    app.on_response_prepare.append(add_common_headers)
    app.on_shutdown.append(hub.close)

    pages = LogPages(site, urls, hub)
    status = StatusPages(site, urls, hub, errors=errors)
    metrics = MetricsPage(site)
    # The index's URLs first: aiohttp tries longer fixed prefixes first anyway, and with index_path "/" they
    # must win over the apps' pages.
    patterns = urls.index_patterns()
    added: set[str] = set()
    for name, handler in (("apps", pages.apps), ("apps_slash", pages.apps), ("asset", pages.asset),
                          ("metrics", metrics.metrics), ("status_home", status.home_page),
                          ("status_home_events", status.events)):
        if patterns[name] not in added:  # index_path "/" makes "apps" and "apps_slash" the same
            added.add(patterns[name])
            app.router.add_get(patterns[name], handler, name=name)
    handlers = {"logs": pages.logs_index, "logs_slash": pages.logs_index, "raw": pages.raw, "tail": pages.tail,
                "file": pages.file, "status": status.page, "status_slash": status.page,
                "status_events": status.events}
    for name, (kind, suffix) in urls.app_page_patterns().items():
        urls.add_app_page(app.router, kind, suffix, handlers[name], name)
    return app
