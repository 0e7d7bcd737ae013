"""The route table: longest URL prefix wins, matched on whole path segments, optionally per Host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Iterable, TypeVar

Target = TypeVar("Target")


@dataclass(frozen=True)
class Route(Generic[Target]):
    prefix: str
    target: Target
    host: str | None = None


class RouteTable(Generic[Target]):
    """Replaced as a whole (`replace`) so a lookup never sees half of a config change."""

    __slots__ = ("_entries",)

    def __init__(self, routes: Iterable[Route[Target]] = ()) -> None:
        self._entries: tuple[tuple[bytes, int, bytes | None, Target], ...] = ()
        self.replace(routes)

    def replace(self, routes: Iterable[Route[Target]]) -> None:
        entries = []
        for route in routes:
            prefix = b"" if route.prefix == "/" else route.prefix.encode()
            host = route.host.lower().encode() if route.host else None
            entries.append((prefix, len(prefix), host, route.target))
        # Longest prefix first; for equal prefixes a host-specific route beats a host-less one.
        entries.sort(key=lambda e: (e[1], e[2] is not None), reverse=True)
        self._entries = tuple(entries)

    def match(self, host: bytes, path: bytes) -> Target | None:
        """The target for a request path (query already stripped or not: '?' ends a segment too)."""
        host_name = None
        for prefix, length, route_host, target in self._entries:
            if route_host is not None:
                if host_name is None:
                    host_name = _host_without_port(host)
                if route_host != host_name:
                    continue
            if length == 0:
                return target
            if path.startswith(prefix) and (len(path) == length or path[length] in b"/?"):
                return target
        return None

    def targets(self) -> list[Target]:
        """Each target once (the sweeper walks them four times a second), in route order."""
        seen: set[int] = set()
        targets = []
        for entry in self._entries:
            if id(entry[3]) not in seen:
                seen.add(id(entry[3]))
                targets.append(entry[3])
        return targets


def _host_without_port(host: bytes) -> bytes:
    host = host.lower()
    if host.startswith(b"["):
        return host.split(b"]", 1)[0] + b"]"
    return host.rsplit(b":", 1)[0] if b":" in host else host
