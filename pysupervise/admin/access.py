"""Who is an admin client: allowed client addresses, or a token exchanged once for a cookie, and only under the
site's own host names. The proxy sends only their requests to the admin app; anyone else who reaches it gets 404."""

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


def client_address(request: web.Request) -> str | None:
    """The client the proxy vouches for: its one X-Forwarded-For value (the TCP peer, or what a trusted proxy
    in front of it said; the proxy never passes on a client's own list). No header means the request did
    not come through the proxy at all. The last element is read, so no list could ever choose the answer.
    """
    headers = request.headers.getall("X-Forwarded-For", [])
    if not headers:
        return None
    return headers[-1].rsplit(",", 1)[-1].strip()


def _parse_address(text: str) -> IPAddress | None:
    """An address as the proxy writes it, bracketed or not; IPv4-mapped IPv6 as the IPv4 address."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d
    return address


def named_host(request: web.Request) -> str:
    """The host the client named, as the proxy decided it (X-Forwarded-Host), port and brackets left for site_name."""
    return request.headers.get("X-Forwarded-Host") or request.headers.get("Host", "")


def site_name(host: str) -> str:
    """A Host value as the rule compares it: lower case, without port, brackets or a trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    host = host.rpartition(":")[0] if host.count(":") == 1 else host
    return host.rstrip(".")


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class AdminAccess:
    """Who is an admin client: the site's own host name, then allowed by address, allowed by cookie, or a token
    to exchange for the cookie.

    One object holds the rule for both sides: the master hands it to the proxy, which sends only admin
    clients' requests to the admin app, and the admin app checks every request again with it (its
    middleware), so the two can never disagree. Its checks take plain values (str or bytes), as each side
    reads them.

    The host check stops DNS rebinding: a page on evil.example that re-points its name at 127.0.0.1 makes
    the developer's browser a loopback client, but its requests still name evil.example. An IP literal
    cannot be rebound, so any is accepted; names must be localhost, the listen host or `[admin] hosts`.
    """

    cookie_name = COOKIE_NAME
    token_param = TOKEN_PARAM

    def __init__(self, allow: Iterable[IPNetwork], token: str | None, site_names: Iterable[str] = ()) -> None:
        self.allow = tuple(allow)
        self.site_names = frozenset({"localhost", *(name.lower().rstrip(".") for name in site_names)})
        self._token = token.encode() if token else None
        self.cookie_value = hmac.new(self._token, _COOKIE_LABEL, hashlib.sha256).hexdigest() if self._token else ""
        self._cookie_bytes = self.cookie_value.encode()

    def host_allowed(self, host: str) -> bool:
        """`host` as the client sent it (Host or a trusted X-Forwarded-Host), port included or not."""
        name = site_name(host)
        return name in self.site_names or is_ip_literal(name)

    def address_allowed(self, address: str) -> bool:
        """`address` is the one client address the proxy decided (the peer, or what trusted proxies said)."""
        parsed = _parse_address(address)
        return parsed is not None and any(parsed in network for network in self.allow)

    def cookie_valid(self, value: str | bytes) -> bool:
        offered = value.encode() if isinstance(value, str) else value
        return bool(self._cookie_bytes) and hmac.compare_digest(offered, self._cookie_bytes)

    def token_matches(self, offered: str | bytes) -> bool:
        offered = offered.encode() if isinstance(offered, str) else offered
        return self._token is not None and hmac.compare_digest(offered, self._token)

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
        response.set_cookie(COOKIE_NAME, self.cookie_value, path="/", httponly=True, samesite="Strict",
                            secure=request.headers.get("X-Forwarded-Proto") == "https")
        return response

    def middleware(self) -> Middleware:
        """The aiohttp middleware for everything the admin app serves (logs now; status and debug later)."""

        @web.middleware
        async def admin_access(request: web.Request, handler: Handler) -> web.StreamResponse:
            # The proxy sent this request here because this same rule said yes; asked again, in case anything
            # else ever reaches the socket.
            address = client_address(request)
            if address is None:
                return not_found(request)  # not through the proxy: no address to judge, no page
            if not self.host_allowed(named_host(request)):
                return not_found(request)  # not one of the site's names, whoever asks: DNS rebinding
            offered = request.rel_url.query.getall(TOKEN_PARAM, [])
            if offered and self.token_matches(offered[-1]):
                return self.login_redirect(request)
            if self.address_allowed(address) or self.cookie_valid(request.cookies.get(COOKIE_NAME, "")):
                return await handler(request)
            return not_found(request)

        return admin_access
