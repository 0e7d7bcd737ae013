"""Who may open admin pages: allowed client addresses, or a token exchanged once for a cookie, and only under the
site's own host names; everyone else gets 404."""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import os
from typing import Awaitable, Callable, Iterable

from aiohttp import web
from yarl import URL

from pysupervise.admin.responses import Handler, not_found

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

COOKIE_NAME = "pysupervise_admin"
TOKEN_PARAM = "token"
# What the cookie holds is HMAC(token, this label): proof of the token that does not reveal it, stays valid
# across master restarts, and stops working when the token changes.
_COOKIE_LABEL = b"pysupervise admin cookie v1"


def token_from_env(variable: str | None) -> str | None:
    """The admin token from the environment variable named by [admin] token_env; empty counts as unset."""
    if not variable:
        return None
    return os.environ.get(variable) or None


def client_address(request: web.Request) -> IPAddress | None:
    """The client the proxy vouches for: its one X-Forwarded-For value (the TCP peer, or what a trusted proxy
    in front of it said; the proxy never passes on a client's own list). No header means the request did
    not come through the proxy at all. The last element is read, so no list could ever choose the answer.
    """
    headers = request.headers.getall("X-Forwarded-For", [])
    if not headers:
        return None
    last = headers[-1].rsplit(",", 1)[-1].strip()
    if last.startswith("[") and last.endswith("]"):
        last = last[1:-1]
    try:
        address = ipaddress.ip_address(last)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d
    return address


def named_host(request: web.Request) -> str:
    """The host name the client used, as the proxy decided it (X-Forwarded-Host), without port or brackets."""
    host = (request.headers.get("X-Forwarded-Host") or request.headers.get("Host", "")).strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AdminAccess:
    """The decision for one request: the site's own host name, then allowed by address, allowed by cookie, a
    token to exchange, or 404.

    The host check stops DNS rebinding: a page on evil.example that re-points its name at 127.0.0.1 makes
    the developer's browser a loopback client, but its requests still name evil.example. An IP literal
    cannot be rebound, so any is accepted; names must be localhost, the listen host or `[admin] hosts`.
    """

    def __init__(self, allow: Iterable[IPNetwork], token: str | None, site_names: Iterable[str] = ()) -> None:
        self.allow = tuple(allow)
        self.site_names = frozenset({"localhost", *(name.lower().rstrip(".") for name in site_names)})
        self._token = token.encode() if token else None
        self._cookie_value = hmac.new(self._token, _COOKIE_LABEL, hashlib.sha256).hexdigest() if self._token else ""

    def host_allowed(self, request: web.Request) -> bool:
        host = named_host(request).rstrip(".")
        return host in self.site_names or is_ip_literal(host)

    def address_allowed(self, request: web.Request) -> bool:
        address = client_address(request)
        return address is not None and any(address in network for network in self.allow)

    def cookie_allowed(self, request: web.Request) -> bool:
        cookie = request.cookies.get(COOKIE_NAME, "")
        return bool(self._cookie_value) and hmac.compare_digest(cookie.encode(), self._cookie_value.encode())

    def token_matches(self, offered: str) -> bool:
        return self._token is not None and hmac.compare_digest(offered.encode(), self._token)

    def login_redirect(self, request: web.Request) -> web.Response:
        """Set the cookie that replaces the token and send the client to the same URL without the token."""
        query = request.rel_url.query.copy()
        query.popall(TOKEN_PARAM)
        # Never "//host/..." as the target: collapsing the leading slashes keeps it on this site.
        path = "/" + request.rel_url.raw_path.lstrip("/")
        location = str(URL(path, encoded=True).with_query(query)) if query else path
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            # A token link clicked on another site: the browser would not send a SameSite=Strict cookie
            # after a redirect that started there (not even on reload). A hop through a page of our own
            # makes the next request same-site.
            target = html.escape(location)
            response = web.Response(text=(
                f'<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={target}">'
                f'<title>pysupervise</title></head><body><p><a href="{target}">Continue</a></p></body></html>\n'),
                content_type="text/html")
        else:
            response = web.Response(status=303, headers={"Location": location})
        response.set_cookie(COOKIE_NAME, self._cookie_value, path="/", httponly=True, samesite="Strict",
                            secure=request.headers.get("X-Forwarded-Proto") == "https")
        return response

    def middleware(self) -> Middleware:
        """The aiohttp middleware for everything the admin app serves (logs now; status and debug later)."""

        @web.middleware
        async def admin_access(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.headers.getall("X-Forwarded-For", []) == []:
                return not_found(request)  # not through the proxy: no address to judge, no page
            if not self.host_allowed(request):
                return not_found(request)  # not one of the site's names, whoever asks: DNS rebinding
            offered = request.rel_url.query.getall(TOKEN_PARAM, [])
            if offered and self.token_matches(offered[-1]):
                return self.login_redirect(request)
            if self.address_allowed(request) or self.cookie_allowed(request):
                return await handler(request)
            return not_found(request)

        return admin_access
