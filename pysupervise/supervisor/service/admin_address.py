"""`[supervisor] admin_listen`: the host's own way to its admin pages, metrics and health page when the site listens
on an address that loopback clients cannot reach (listen = "10.0.0.5:8080")."""

from __future__ import annotations

import ipaddress

from pysupervise.config.values import AUTO, ListenAddress
from pysupervise.proxy import ProxyServer

_LOOPBACK = "127.0.0.1"


async def bind_admin_address(proxy: ProxyServer, setting: ListenAddress | str | None) -> str | None:
    """Bind the second listening socket of the proxy (served like the first: the admin rule still decides who
    gets which page) once the main one is bound; returns its URL, or None when there is none.

    "auto" binds 127.0.0.1 only when the main address is a specific one other than loopback (0.0.0.0 and ::
    take loopback clients already), on the main port, or on any free port when another program has that one.
    Raises OSError when an explicit address cannot be bound."""
    if setting is None:
        return None
    if setting == AUTO:
        if reaches_loopback(proxy.bound_addresses()[0]):
            return None
        try:
            port = await proxy.bind(_LOOPBACK, proxy.port, main=False)
        except OSError:
            port = await proxy.bind(_LOOPBACK, 0, main=False)
        return ListenAddress(_LOOPBACK, port).url()
    assert isinstance(setting, ListenAddress)
    port = await proxy.bind(setting.host, setting.port, main=False)
    return setting.url(port)


def reaches_loopback(bound: str) -> bool:
    """Whether loopback clients can connect to a socket bound to this address (the wildcard takes them too)."""
    try:
        address = ipaddress.ip_address(bound.partition("%")[0])  # an IPv6 link-local address carries its scope
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_unspecified or address.is_loopback
