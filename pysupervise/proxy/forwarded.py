"""Who the client is and which scheme and host it used: the TCP peer's word, or trusted proxies' (nginx real_ip).

The proxy decides this once per request; workers and admin pages get the decision as the one
X-Forwarded-For / X-Forwarded-Proto / X-Forwarded-Host the proxy writes, never the client's own.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A uri-host with an optional port (RFC 3986 reg-name or IP literal): nothing that could break out of a header
# or a URL built from it.
_HOST = re.compile(rb"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=%-]+)(:[0-9]{1,5})?$")
_SCHEMES = (b"http", b"https")


def valid_host(host: bytes) -> bool:
    """Whether `host` is a host[:port] a worker may see: the client's Host header and a trusted X-Forwarded-Host.

    nginx refuses "/", NUL and ".." (a Host may end up in a file path); the URI grammar also keeps
    quotes, spaces and userinfo out.
    """
    return _HOST.fullmatch(host) is not None and b".." not in host


class ValidHosts:
    """valid_host with a memory of the hosts that passed: a site sees a few Host values over and over, and the
    check is a regex. Bounded, so a client sending a new name with every request cannot grow it (it starts over).
    """

    __slots__ = ("_passed", "_limit")

    def __init__(self, limit: int = 256) -> None:
        self._passed: set[bytes] = set()
        self._limit = limit

    def __len__(self) -> int:
        return len(self._passed)

    def __call__(self, host: bytes) -> bool:
        if host in self._passed:
            return True
        if not valid_host(host):
            return False
        if len(self._passed) >= self._limit:
            self._passed.clear()
        self._passed.add(host)
        return True


def parse_address(text: str | bytes) -> IPAddress | None:
    """An address as X-Forwarded-For elements and peer names spell it: bare, [v6], with or without a port."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            return None
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # a.b.c.d:port
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d
    return address


def is_loopback(text: str) -> bool:
    address = parse_address(text)
    return address is not None and address.is_loopback


def last_element(values: list[bytes]) -> bytes:
    """The rightmost element of a comma-separated header (possibly sent more than once): the nearest hop's word."""
    return values[-1].rsplit(b",", 1)[-1].strip() if values else b""


class TrustedProxies:
    """`[proxy] trusted_proxies`: the peers whose forwarding headers are believed."""

    __slots__ = ("networks",)

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: list[bytes]) -> str:
        """Walk X-Forwarded-For from the right while the hop we stand on is trusted (real_ip_recursive)."""
        current = parse_address(peer)
        shown = peer
        hops = [hop for value in forwarded_for for hop in value.split(b",")]
        for hop in reversed(hops):
            if not self.trusts(current):
                break
            address = parse_address(hop)
            if address is None:
                break  # garbage from a hop we trust: stop at that hop rather than believe it
            current, shown = address, str(address)
        return shown

    @staticmethod
    def scheme(forwarded_proto: list[bytes]) -> bytes | None:
        """X-Forwarded-Proto from a trusted peer: "http" or "https", anything else ignored."""
        proto = last_element(forwarded_proto).lower()
        return proto if proto in _SCHEMES else None

    @staticmethod
    def host(forwarded_host: list[bytes]) -> bytes | None:
        """X-Forwarded-Host from a trusted peer, if it is a well-formed host[:port]."""
        host = last_element(forwarded_host)
        return host if host and valid_host(host) else None
