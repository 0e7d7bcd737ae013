"""The route tables: the apps' (longest URL prefix wins, matched on whole path segments, optionally per Host), and
the admin pages' (for admin clients only)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Iterable, Protocol, TypeVar
from urllib.parse import parse_qs, quote

from pysupervise.proxy.forwarded import parse_address
from pysupervise.proxy.request import ProxyRequest

if TYPE_CHECKING:
    from pysupervise.proxy.backend import AppBackend
    from pysupervise.proxy.client import ClientConnection
    from pysupervise.proxy.client.local_answer import LocalAnswer

Target = TypeVar("Target")
# What a request target may hold as it is; anything else of a prefix goes in the header percent-encoded.
_URL_SAFE = "/%:@!$&'()*+,;=-._~"


@dataclass(frozen=True)
class Route(Generic[Target]):
    prefix: str
    target: Target
    host: str | None = None
    # Tell the worker the prefix it is mounted at (X-Forwarded-Prefix); the app's `mount_prefix`.
    forward_prefix: bool = False


def prefix_header(prefix: str) -> bytes:
    """The head line that tells a worker which route prefix matched (the runtime makes it SCRIPT_NAME/root_path)."""
    return b"X-Forwarded-Prefix: " + quote(prefix, safe=_URL_SAFE).encode() + b"\r\n"


class RouteTable:
    """Replaced as a whole (`replace`) so a lookup never sees half of a config change. Its targets are AppBackends
    and StaticSites (not Generic: compiled, routing.pxd makes it an extension type, whose first base must be one)."""

    __slots__ = ("_entries", "_routes")

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._entries: tuple[tuple[bytes, int, bytes | None, tuple[object, bytes]], ...] = ()
        self._routes: tuple[Route, ...] = ()
        self.replace(routes)

    def replace(self, routes: Iterable[Route]) -> None:
        self._routes = tuple(routes)
        entries = []
        for route in self._routes:
            prefix = b"" if route.prefix == "/" else route.prefix.encode()
            host = route.host.lower().encode() if route.host else None
            # Built here, once per config: a lookup hands out this very tuple, so a request pays nothing for it.
            header = prefix_header(route.prefix) if route.forward_prefix and prefix else b""
            entries.append((prefix, len(prefix), host, (route.target, header)))
        # Longest prefix first; for equal prefixes a host-specific route beats a host-less one.
        entries.sort(key=lambda e: (e[1], e[2] is not None), reverse=True)
        self._entries = tuple(entries)

    def match(self, host: bytes, path: bytes) -> object | None:
        """The target for a request path (query already stripped or not: '?' ends a segment too)."""
        found = self.lookup(host, path)
        return None if found is None else found[0]

    def lookup(self, host: bytes, path: bytes) -> tuple[object, bytes] | None:
        """(target, the X-Forwarded-Prefix head line for the worker or b"") for a request path."""
        host_name = None
        for prefix, length, route_host, found in self._entries:
            if route_host is not None:
                if host_name is None:
                    host_name = _host_without_port(host)
                if route_host != host_name:
                    continue
            if length == 0:
                return found
            if path.startswith(prefix) and (len(path) == length or path[length] in b"/?"):
                return found
        return None

    def routes(self) -> tuple[Route, ...]:
        """The routes as given to `replace` (published to the other front processes)."""
        return self._routes

    def targets(self) -> list[object]:
        """Each target once (the sweeper walks them four times a second), in route order."""
        seen: set[int] = set()
        targets = []
        for entry in self._entries:
            target = entry[3][0]
            if id(target) not in seen:
                seen.add(id(target))
                targets.append(target)
        return targets


def _host_without_port(host: bytes) -> bytes:
    host = host.lower()
    if host.startswith(b"["):
        return host.split(b"]", 1)[0] + b"]"
    return host.rsplit(b":", 1)[0] if b":" in host else host


class AdminRule(Protocol):
    """Who is an admin client (admin.AdminAccess, handed in by the supervisor; the admin app checks with it too)."""

    cookie_name: str
    token_param: str

    def host_allowed(self, host: str) -> bool: ...

    def address_allowed(self, address: str) -> bool: ...

    def cookie_valid(self, value: str | bytes) -> bool: ...

    def token_matches(self, offered: str | bytes) -> bool: ...


class AdminRoutes:
    """The admin pages' URL prefixes, consulted before the apps' routes and taken only by admin clients.

    Everyone else is routed as if these did not exist, so an app at /api keeps its own /api/status. The path
    is checked first (a dict lookup on its first segment), so a request for an app's page pays no cookie
    parsing. Replaced as a whole, like RouteTable; its target is the admin app's AppBackend.
    """

    __slots__ = ("rule", "target", "_cookie", "_token", "_first_segments", "_everything", "_prefixes")

    def __init__(self, rule: AdminRule | None = None, target: object | None = None) -> None:
        self.rule = rule
        self.target = target
        self._cookie = rule.cookie_name.encode() if rule is not None else b""
        self._token = rule.token_param if rule is not None else ""
        # First path segment → the prefixes that start with it; index_path "/" covers every path.
        self._first_segments: dict[bytes, tuple[bytes, ...]] = {}
        self._everything = False
        self._prefixes: tuple[str, ...] = ()

    def replace(self, prefixes: Iterable[str]) -> None:
        self._prefixes = tuple(prefixes)
        by_first: dict[bytes, list[bytes]] = {}
        everything = False
        for prefix in self._prefixes:
            if prefix == "/":
                everything = True
                continue
            encoded = prefix.rstrip("/").encode()
            by_first.setdefault(encoded[1:].split(b"/", 1)[0], []).append(encoded)
        self._first_segments = {first: tuple(found) for first, found in by_first.items()}
        self._everything = everything

    def match(self, request: ProxyRequest) -> object | None:
        """The admin target for an admin client's request under an admin URL; None routes it as usual."""
        if self.rule is None or not (self._everything or self._covers(request.url)):
            return None
        return self.target if self._admits(request) else None

    def admits(self, request: ProxyRequest) -> bool:
        """Whether the request comes from an admin client, whatever its URL."""
        return self.rule is not None and self._admits(request)

    def prefixes(self) -> tuple[str, ...]:
        return self._prefixes

    def targets(self) -> list[object]:
        return [self.target] if self.target is not None and self.rule is not None else []

    def _covers(self, url: bytes) -> bool:
        size = len(url)
        end = 1
        while end < size and url[end] != 0x2F and url[end] != 0x3F:  # the first segment ends at a "/" or the "?"
            end += 1
        prefixes = self._first_segments.get(url[1:end])
        if prefixes is None:
            return False
        for prefix in prefixes:
            length = len(prefix)
            if url.startswith(prefix) and (len(url) == length or url[length] in b"/?"):
                return True
        return False

    def _admits(self, request: ProxyRequest) -> bool:
        rule = self.rule
        if not rule.host_allowed((request.forwarded_host or request.host).decode("latin-1")):
            return False  # DNS rebinding: whoever asks, a name that is not the site's gets the app
        if rule.address_allowed(request.client_ip):
            return True
        cookie = request.cookie(self._cookie)
        if cookie is not None and rule.cookie_valid(cookie):
            return True
        # A valid token gets the admin app's login redirect; any other `token` parameter is the app's business.
        query = request.url.partition(b"?")[2]
        offered = parse_qs(query.decode("latin-1")).get(self._token) if query else None
        return offered is not None and rule.token_matches(offered[-1])


class HealthSource(Protocol):
    """What the health page says right now (the supervisor's SiteHealth, handed in): status and JSON body."""

    def answer(self) -> tuple[int, bytes]: ...


class HealthRoute:
    """The load balancers' page: one exact path, answered by the proxy itself from a HealthSource.

    Taken by clients in `allow` (default everyone) and by admin clients; for anyone else the path is the
    app's. No Host check: a balancer probes with whatever Host it likes (often the IP), and the page holds
    nothing a rebound name could steal that `allow` does not already give away (status, reasons, host id,
    per-app ready flags). A route target like an AppBackend: its requests count for `backend`.
    """

    __slots__ = ("path", "source", "backend", "_allow", "_everyone")

    def __init__(self, path: str, source: HealthSource, backend: "AppBackend",
                 allow: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self.path = path.encode()
        self.source = source
        self.backend = backend
        self._allow = tuple(allow)
        # The default lets everyone in: skip parsing the client's address for it.
        self._everyone = {str(n) for n in self._allow} >= {"0.0.0.0/0", "::/0"}

    def match(self, request: ProxyRequest, admin: AdminRoutes) -> "HealthRoute | None":
        url = request.url
        length = len(self.path)
        if not url.startswith(self.path) or (len(url) != length and url[length] != 0x3F):  # exact path, any query
            return None
        return self if self._allowed(request.client_ip) or admin.admits(request) else None

    def _allowed(self, client_ip: str) -> bool:
        if self._everyone:
            return True
        address = parse_address(client_ip)
        return address is not None and any(address in network for network in self._allow)

    def new_exchange(self, client: "ClientConnection", request: ProxyRequest) -> "LocalAnswer":
        # Imported here: ProxyServer's C type names this module's (server.pxd), so this module loads while the
        # client package, which needs ProxyServer's, is still loading.
        from pysupervise.proxy.client.local_answer import LocalAnswer

        status, body = self.source.answer()
        return LocalAnswer(client, request, self.backend, status, body, label="health")


class RoutingHold:
    """New requests wait here, unrouted, while every front process switches to a new route table together (a
    swap, a reload: proxy/fronts/fleet.py `switch`): no front routes by the new table until every front has
    stopped routing by the old one, so once any client was answered by the new side, no request sent after that
    is answered by the old one. Held for the length of a round trip to each front, a second at most."""

    __slots__ = ("waiting",)

    def __init__(self) -> None:
        # Connections whose next request waits to be routed (each is resumed once, in arrival order).
        self.waiting: dict["ClientConnection", None] = {}

    def wait(self, client: "ClientConnection") -> None:
        self.waiting[client] = None

    def release(self) -> None:
        for client in self.waiting:
            client.routing_released()
        self.waiting.clear()
