"""One rule for both sides (issue 16 §5): the proxy's AdminRoutes sends a request to the admin app exactly when the
admin app, asked with the same AdminAccess, serves it; and only admin URLs are looked at."""

from __future__ import annotations

import ipaddress
import itertools

import pytest

from pysupervise.admin import AdminAccess
from pysupervise.proxy.request import ProxyRequest
from pysupervise.proxy.routing import AdminRoutes
from tests.admin.support import TOKEN, AdminThread, FolderSite, admin_settings, log_settings, request

ALLOW = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1"))
RULE = AdminAccess(ALLOW, TOKEN, ["site.example"])
COOKIE = f"pysupervise_admin={RULE.cookie_value}"


def routes(*prefixes: str) -> AdminRoutes[str]:
    table: AdminRoutes[str] = AdminRoutes(RULE, "admin")
    table.replace(prefixes)
    return table


def proxied(url: str, host: str = "localhost", client: str = "127.0.0.1", cookie: str | None = None,
            forwarded_host: str = "") -> ProxyRequest:
    """A request as the proxy holds it after the head: its decided client address and host."""
    request = ProxyRequest(client, 0.0)
    request.url = url.encode()
    request.add_header(b"Host", host.encode())
    if cookie is not None:
        request.add_header(b"Cookie", cookie.encode())
    request.forwarded_host = forwarded_host.encode()
    return request


@pytest.mark.parametrize("url, covered", [
    ("/api/status", True), ("/api/status/", True), ("/api/status/events", True), ("/api/status?format=json", True),
    ("/api/logs/raw/x.log", True), ("/_pysupervise", True), ("/_pysupervise/api/", True),
    ("/_pysupervise?x", True), ("/api/statusx", False), ("/api", False), ("/api/", False), ("/apix/status", False),
    ("/_pysupervisex", False), ("/", False), ("*", False), ("/API/status", False), ("/x/api/status", False)])
def test_only_admin_urls_are_taken_on_whole_segments(url, covered):
    table = routes("/api/logs", "/api/status", "/_pysupervise")
    assert (table.match(proxied(url)) == "admin") is covered


def test_index_path_slash_covers_every_url():
    assert routes("/api/status", "/").match(proxied("/anything/at/all")) == "admin"


def test_without_a_rule_nothing_is_admin():
    table: AdminRoutes[str] = AdminRoutes()
    table.replace(["/api/status"])
    assert table.match(proxied("/api/status")) is None and table.targets() == []


@pytest.mark.parametrize("host, forwarded_host, admitted", [
    ("localhost", "", True), ("LOCALHOST:8080", "", True), ("site.example.", "", True), ("[::1]:80", "", True),
    ("evil.example", "", False), ("localhost.evil.example", "", False),
    ("localhost", "evil.example", False),  # a trusted balancer's word wins over the Host it sent
    ("evil.example", "site.example:443", True)])
def test_the_named_host_must_be_the_sites(host, forwarded_host, admitted):
    request = proxied("/api/status", host=host, forwarded_host=forwarded_host)
    assert (routes("/api/status").match(request) == "admin") is admitted


@pytest.mark.parametrize("client, cookie, query, admitted", [
    ("127.0.0.1", None, "", True), ("::1", None, "", True), ("127.0.0.2", None, "", False),
    ("127.0.0.2", COOKIE, "", True), ("127.0.0.2", f"a=1; {COOKIE}; b=2", "", True),
    ("127.0.0.2", "pysupervise_admin=" + "0" * 64, "", False), ("127.0.0.2", "pysupervise_admin=", "", False),
    ("127.0.0.2", None, f"?token={TOKEN}", True), ("127.0.0.2", None, f"?q=1&token={TOKEN}", True),
    ("127.0.0.2", None, "?token=wrong", False), ("127.0.0.2", None, "?token=", False),
    ("127.0.0.2", None, f"?token={TOKEN}&token=wrong", False), ("127.0.0.2", None, f"?xtoken={TOKEN}", False)])
def test_address_cookie_or_a_valid_token(client, cookie, query, admitted):
    request = proxied("/api/status" + query, client=client, cookie=cookie)
    assert (routes("/api/status").match(request) == "admin") is admitted


# Every combination the proxy may decide, sent to the real admin app the way the proxy forwards it.
CASES = list(itertools.product(
    ["localhost", "evil.example:80", "127.0.0.9"],
    ["127.0.0.1", "10.1.2.3"],
    [None, COOKIE, "pysupervise_admin=forged"],
    ["", f"?token={TOKEN}", "?token=wrong"]))


@pytest.fixture(scope="module")
def admin_app(tmp_path_factory):
    site = FolderSite(tmp_path_factory.mktemp("rule") / "logs", log_settings())
    site.add_app("web")
    server = AdminThread(site, admin_settings(), None, access=RULE)  # the very object the proxy asks
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("host, client, cookie, query", CASES)
def test_the_proxy_and_the_admin_app_agree(admin_app, host, client, cookie, query):
    proxy_says = routes("/web/logs").match(proxied("/web/logs" + query, host, client, cookie)) == "admin"
    headers = {"X-Forwarded-For": client, "X-Forwarded-Host": host, **({"Cookie": cookie} if cookie else {})}
    status = request(admin_app.port, "/web/logs" + query, headers).status
    assert status in (200, 303, 404)
    assert (status != 404) is proxy_says, (status, proxy_says)
