"""The HTTP/1.1 front: parsing (httptools), buffering, dispatch and queue, pooled upstreams, tunnels."""

from pysupervise.proxy.backend import AppBackend
from pysupervise.proxy.endpoint import Endpoint
from pysupervise.proxy.routing import AdminRoutes, HealthRoute, Route, RouteTable
from pysupervise.proxy.server import ProxyServer
from pysupervise.proxy.static import StaticSite

__all__ = ["AdminRoutes", "AppBackend", "Endpoint", "HealthRoute", "ProxyServer", "Route", "RouteTable", "StaticSite"]
