"""Access control for everything the admin app serves: address, token cookie, or an ordinary 404 (issue 5 §4)."""

from __future__ import annotations

import re

import pytest

from tests.admin.support import TOKEN, AdminThread, admin_settings, local, request

PAGES = ["/web/logs", "/web/logs/", "/_pysupervise/", "/_pysupervise", "/web/logs/events.log",
         "/web/logs/raw/events.log", "/web/status", "/_pysupervise/assets/x/admin.css"]


@pytest.fixture
def with_events(site):
    (site.log_dir("web") / "events.log").write_text("2024-01-01T00:00:00Z worker-spawned slot=0\n")
    return site


def _page_shape(text: str) -> str:
    return re.sub(r"request [0-9a-zA-Z._:@/+=-]+", "request ID", text)


@pytest.mark.parametrize("forwarded_for", [
    "127.0.0.1", "8.8.8.8, 127.0.0.1", "127.0.0.1 ,127.0.0.2", "::1", "::ffff:127.0.0.1", "[::1]"])
def test_the_last_forwarded_address_in_allow_gets_the_page(admin, with_events, forwarded_for):
    response = request(admin.port, "/web/logs", {"X-Forwarded-For": forwarded_for})
    assert response.status == 200, forwarded_for
    assert "events.log" in response.text


@pytest.mark.parametrize("headers", [
    [("X-Forwarded-For", "10.1.2.3")],
    [("X-Forwarded-For", "127.0.0.1, 10.1.2.3")],  # the client's own list is never trusted
    [("X-Forwarded-For", "127.0.0.1"), ("X-Forwarded-For", "10.1.2.3")],
    [("X-Forwarded-For", "10.1.2.3, ")],
    [("X-Forwarded-For", "unknown")],
    [("X-Forwarded-For", "")],
    [],  # not through the proxy at all
    [("X-Real-IP", "127.0.0.1"), ("Forwarded", "for=127.0.0.1")],
], ids=["remote", "spoofed-first", "spoofed-first-header", "trailing-comma", "garbage", "empty", "none",
        "other-headers"])
def test_everyone_else_gets_a_plain_404_on_every_admin_url(admin, with_events, headers):
    for path in PAGES:
        response = request(admin.port, path, headers)
        assert response.status == 404, (path, headers)
        assert "events.log" not in response.text and "worker-spawned" not in response.text
        assert response.header("Set-Cookie") is None


def test_a_denied_page_looks_exactly_like_a_missing_page(admin, with_events):
    denied = request(admin.port, "/web/logs", {"X-Forwarded-For": "10.1.2.3"})
    missing = request(admin.port, "/web/logs/no-such-file.log", local())
    unknown_app = request(admin.port, "/nope/logs", local())
    assert denied.status == missing.status == unknown_app.status == 404
    assert _page_shape(denied.text) == _page_shape(missing.text) == _page_shape(unknown_app.text)
    names = {name.lower() for name, _ in denied.headers} - {"date"}
    assert names == {name.lower() for name, _ in missing.headers} - {"date"}
    denied_json = request(admin.port, "/web/logs", {"X-Forwarded-For": "10.1.2.3", "Accept": "application/json"})
    assert denied_json.header("Content-Type").startswith("application/json")
    assert denied_json.status == 404


def test_a_token_sets_an_httponly_strict_cookie_and_redirects_without_it(admin, with_events):
    remote = {"X-Forwarded-For": "10.1.2.3"}
    response = request(admin.port, f"/web/logs/events.log?q=spawned&token={TOKEN}", remote)
    assert response.status == 303
    assert response.header("Location") == "/web/logs/events.log?q=spawned"
    cookie = response.header("Set-Cookie")
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes and "samesite=strict" in attributes and "path=/" in attributes
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    assert TOKEN not in value and len(value) == 64  # an HMAC of the token, not the token

    cookie_header = {**remote, "Cookie": f"pysupervise_admin={value}"}
    with_cookie = request(admin.port, "/web/logs/events.log?q=spawned", cookie_header)
    assert with_cookie.status == 200 and "worker-<mark>spawned</mark>" in with_cookie.text
    for path in ("/_pysupervise/", "/web/logs/raw/events.log", "/other/logs"):
        assert request(admin.port, path, {**remote, "Cookie": f"pysupervise_admin={value}"}).status == 200, path

    # A forged cookie, the token itself as a cookie, a wrong token: all plain 404s, no cookie handed out.
    for cookie_value in ("0" * 64, TOKEN, value[:-1] + ("0" if value[-1] != "0" else "1")):
        assert request(admin.port, "/web/logs", {**remote, "Cookie": f"pysupervise_admin={cookie_value}"}).status == 404
    wrong = request(admin.port, "/web/logs?token=guess", remote)
    assert wrong.status == 404 and wrong.header("Set-Cookie") is None
    # Without X-Forwarded-For the request did not come through the proxy: no page, cookie or not.
    assert request(admin.port, "/web/logs", {"Cookie": f"pysupervise_admin={value}"}).status == 404


def test_a_cross_site_token_link_gets_a_same_site_hop_instead_of_a_redirect(admin):
    response = request(admin.port, f"/web/logs?x=1&token={TOKEN}",
                       {"X-Forwarded-For": "10.1.2.3", "Sec-Fetch-Site": "cross-site"})
    assert response.status == 200 and response.header("Location") is None
    assert '<meta http-equiv="refresh" content="0;url=/web/logs?x=1">' in response.text
    assert TOKEN not in response.text
    assert "SameSite=Strict" in response.header("Set-Cookie")


def test_the_redirect_after_the_token_never_leaves_the_site(admin):
    response = request(admin.port, f"//evil.example/web/logs?token={TOKEN}", {"X-Forwarded-For": "10.1.2.3"})
    assert response.status == 303
    assert response.header("Location") == "/evil.example/web/logs"


def test_an_allowed_client_is_not_turned_away_by_a_wrong_token(admin, with_events):
    assert request(admin.port, "/web/logs?token=wrong", local()).status == 200


def test_without_a_configured_token_no_token_works(site):
    server = AdminThread(site, admin_settings(), None)
    try:
        for token in (TOKEN, "", "None"):
            response = request(server.port, f"/web/logs?token={token}", {"X-Forwarded-For": "10.1.2.3"})
            assert response.status == 404 and response.header("Set-Cookie") is None
        assert request(server.port, "/web/logs", {"X-Forwarded-For": "10.1.2.3",
                                                  "Cookie": "pysupervise_admin="}).status == 404
        assert request(server.port, "/web/logs", local()).status == 200
    finally:
        server.stop()


def test_allow_comes_from_the_settings(site):
    import ipaddress

    server = AdminThread(site, admin_settings(allow=(ipaddress.ip_network("10.1.0.0/16"),)), None)
    try:
        assert request(server.port, "/web/logs", {"X-Forwarded-For": "10.1.2.3"}).status == 200
        assert request(server.port, "/web/logs", local()).status == 404
    finally:
        server.stop()


def test_every_response_carries_the_request_id(admin, with_events):
    cases = [("/web/logs", local()), ("/web/logs", {"X-Forwarded-For": "10.1.2.3"}),
             (f"/web/logs?token={TOKEN}", {"X-Forwarded-For": "10.1.2.3"}), ("/web/logs/raw/events.log", local()),
             ("/_pysupervise/assets/x/admin.js", local())]
    for path, headers in cases:
        response = request(admin.port, path, {**headers, "X-Request-Id": "abc-123"})
        assert response.header("X-Request-Id") == "abc-123", path
    generated = request(admin.port, "/web/logs", {**local(), "X-Request-Id": "bad id\twith spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", generated.header("X-Request-Id"))
    assert generated.header("X-Request-Id") in generated.text
    assert re.fullmatch(r"[0-9a-f]{32}", request(admin.port, "/nope", local()).header("X-Request-Id"))


def test_pages_forbid_foreign_scripts_and_framing(admin, with_events):
    response = request(admin.port, "/web/logs/events.log", local())
    policy = response.header("Content-Security-Policy")
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.header("X-Content-Type-Options") == "nosniff"
