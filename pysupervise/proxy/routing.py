"""The route table: longest URL prefix wins, matched on whole path segments, optionally per Host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Iterable, TypeVar
from urllib.parse import quote

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


class RouteTable(Generic[Target]):
    """Replaced as a whole (`replace`) so a lookup never sees half of a config change."""

    __slots__ = ("_entries",)

    def __init__(self, routes: Iterable[Route[Target]] = ()) -> None:
        self._entries: tuple[tuple[bytes, int, bytes | None, tuple[Target, bytes]], ...] = ()
        self.replace(routes)

    def replace(self, routes: Iterable[Route[Target]]) -> None:
        entries = []
        for route in routes:
            prefix = b"" if route.prefix == "/" else route.prefix.encode()
            host = route.host.lower().encode() if route.host else None
            # Built here, once per config: a lookup hands out this very tuple, so a request pays nothing for it.
            header = prefix_header(route.prefix) if route.forward_prefix and prefix else b""
            entries.append((prefix, len(prefix), host, (route.target, header)))
        # Longest prefix first; for equal prefixes a host-specific route beats a host-less one.
        entries.sort(key=lambda e: (e[1], e[2] is not None), reverse=True)
        self._entries = tuple(entries)

    def match(self, host: bytes, path: bytes) -> Target | None:
        """The target for a request path (query already stripped or not: '?' ends a segment too)."""
        found = self.lookup(host, path)
        return None if found is None else found[0]

    def lookup(self, host: bytes, path: bytes) -> tuple[Target, bytes] | None:
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

    def targets(self) -> list[Target]:
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
