"""Clients must not choose the address apps see: `[proxy] trusted_proxies` (nginx real_ip, uvicorn forwarded_allow_ips).

The test client connects from 127.0.0.3 ("a stranger") or from 127.0.0.1 (configured as a trusted balancer in
front of pysupervise) and sends the forged headers itself; every interface, the access log and the admin pages
must agree on who the client is.
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.poll import wait_until

APPS = f"""
[apps.web]
app = "web:create_app"
dir = "{{apps}}"
route = "/web"
workers = 1
env = {{ PREFIX = "/web" }}

[apps.asgi]
app = "asgi_app:app"
dir = "{{apps}}"
route = "/asgi"
workers = 1

[apps.wsgi]
app = "wsgi_app:app"
dir = "{{apps}}"
route = "/wsgi"
workers = 1

[apps.plain]
command = ["{sys.executable}", "plain_server.py"]
dir = "{{apps}}"
route = "/plain"
workers = 1
"""
FORGED = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
          "Forwarded": "for=6.6.6.6;proto=https", "X-Real-IP": "6.6.6.6"}


def from_address(site, source: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    response = site.request("GET", path, headers=headers, timeout=10, source=source)
    return response.status, dict(response.headers), response.body


def seen_by_every_interface(site, source: str, headers: dict) -> dict[str, tuple]:
    """(client address, scheme) as each kind of app sees it."""
    web = json.loads(from_address(site, source, "/web/client", headers)[2])
    asgi = json.loads(from_address(site, source, "/asgi/x", headers)[2])
    wsgi = json.loads(from_address(site, source, "/wsgi/x", headers)[2])
    plain = json.loads(from_address(site, source, "/plain/x", headers)[2])
    return {"aiohttp": (web["remote"], web["scheme"]), "asgi": (asgi["client"][0], asgi["scheme"]),
            "wsgi": (wsgi["remote_addr"], wsgi["scheme"]),
            "command": (",".join(plain["forwarded_for"]), ",".join(plain["forwarded_proto"]))}


def access_log_clients(site) -> list[str]:
    path = site.log_dir / "web" / "access.log"
    return [line.split()[1] for line in path.read_text().splitlines()] if path.exists() else []


def test_by_default_a_clients_forwarding_headers_change_nothing(make_site):
    site = make_site(APPS)
    seen = seen_by_every_interface(site, "127.0.0.3", FORGED)
    assert seen == {kind: ("127.0.0.3", "http") for kind in ("aiohttp", "asgi", "wsgi", "command")}
    wait_until(lambda: access_log_clients(site) == ["127.0.0.3"], 10, "the access log line")


def test_underscored_twins_of_the_proxys_headers_never_reach_an_app(make_site):
    # WSGI (CGI) spells X-Forwarded-For and X_Forwarded_For the same: HTTP_X_FORWARDED_FOR. A client's
    # underscored twin would merge into the value the proxy vouches for, so headers with "_" are dropped
    # (nginx's underscores_in_headers off); gunicorn even reads a SCRIPT_NAME header as the mount prefix.
    site = make_site(APPS)
    twins = {"X_Forwarded_For": "6.6.6.6", "X_Forwarded_Host": "evil.example", "X_Forwarded_Prefix": "/evil",
             "Script_Name": "/evil"}
    status, _, body = from_address(site, "127.0.0.3", "/wsgi/x", twins)
    seen = json.loads(body)
    assert status == 200
    assert (seen["forwarded_for"], seen["forwarded_host"], seen["remote_addr"]) == ("127.0.0.3", f"{site.host}:{site.port}", "127.0.0.3")
    assert (seen["script_name"], seen["path_info"], seen["forwarded_prefix"]) == ("/wsgi", "/x", "/wsgi")
    plain = json.loads(from_address(site, "127.0.0.3", "/plain/x", twins)[2])
    assert plain["header_names"] and not [name for name in plain["header_names"] if "_" in name], plain


def test_behind_a_trusted_balancer_every_interface_sees_the_client_it_names(make_site):
    site = make_site(APPS + '\n[proxy]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n')
    # The balancer (127.0.0.1) passes on a chain: a spoofed entry, the client, and an inner trusted hop.
    chain = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7, 10.1.2.3", "X-Forwarded-Proto": "https"}
    seen = seen_by_every_interface(site, "127.0.0.1", chain)
    assert seen == {kind: ("203.0.113.7", "https") for kind in ("aiohttp", "asgi", "wsgi", "command")}
    # A client that is not the balancer is not believed, whatever it sends.
    seen = seen_by_every_interface(site, "127.0.0.3", chain)
    assert seen == {kind: ("127.0.0.3", "http") for kind in ("aiohttp", "asgi", "wsgi", "command")}
    # Sorted: with more than one front process, lines are in the order the master received them.
    wait_until(lambda: sorted(access_log_clients(site)) == ["127.0.0.3", "203.0.113.7"], 10, "both access log lines")


def test_the_balancers_host_reaches_the_worker_and_garbage_is_not_believed(make_site):
    site = make_site(APPS + '\n[proxy]\ntrusted_proxies = ["127.0.0.1"]\n')
    status, _headers, body = from_address(site, "127.0.0.1", "/web/headers", {
        "X-Forwarded-For": "not-an-address", "X-Forwarded-Host": "shop.example:443", "X-Forwarded-Proto": "gopher",
        "X-Forwarded-Prefix": "/not-believed-either"})
    assert status == 200
    forwarded = {name: value for name, value in json.loads(body)["headers"] if name.startswith("X-Forwarded")}
    # The prefix is the route the proxy matched, never a balancer's word (mount_prefix; aiohttp only reads it).
    assert forwarded == {"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "http",
                         "X-Forwarded-Host": "shop.example:443", "X-Forwarded-Prefix": "/web"}


def test_admin_pages_judge_the_client_the_balancer_names(make_site):
    site = make_site(APPS + '\n[proxy]\ntrusted_proxies = ["127.0.0.1"]\n')
    assert from_address(site, "127.0.0.1", "/web/logs")[0] == 200  # the balancer's own request: loopback
    assert from_address(site, "127.0.0.1", "/web/logs", {"X-Forwarded-For": "203.0.113.7"})[0] == 404
    assert from_address(site, "127.0.0.3", "/web/logs", {"X-Forwarded-For": "127.0.0.1"})[0] == 200  # loopback
    stranger = make_site(APPS + '\n[admin]\nallow = ["127.0.0.1"]\n')
    assert from_address(stranger, "127.0.0.3", "/web/logs", {"X-Forwarded-For": "127.0.0.1"})[0] == 404


@pytest.mark.parametrize("trusted, secure", [(True, True), (False, False)])
def test_the_admin_cookie_is_secure_only_behind_a_trusted_https_balancer(make_site, trusted, secure):
    config = APPS + ('\n[proxy]\ntrusted_proxies = ["127.0.0.1"]\n' if trusted else "")
    site = make_site(config, env={"PYSUPERVISE_ADMIN_TOKEN": "t0ken"})
    status, headers, _body = from_address(site, "127.0.0.1", "/web/logs?token=t0ken",
                                          {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"})
    assert status == 303
    assert ("Secure" in headers["Set-Cookie"]) is secure


def test_dev_error_pages_follow_the_client_not_the_loopback_balancer(make_site):
    site = make_site(APPS + '\n[proxy]\ntrusted_proxies = ["127.0.0.1"]\n')
    status, _headers, body = from_address(site, "127.0.0.1", "/web/crash", {"Accept": "application/json"})
    assert status == 502 and "about to crash" in json.loads(body)["worker_stderr"]  # the balancer's own: loopback
    site.wait_for(lambda: site.get("/web/whoami").status == 200, 20, "the crashed worker to be replaced")
    status, _headers, body = from_address(site, "127.0.0.1", "/web/crash", {"X-Forwarded-For": "203.0.113.7",
                                                                           "Accept": "application/json"})
    assert status == 502 and "worker_stderr" not in json.loads(body)


def test_underscores_in_headers_lets_a_clients_own_through_but_never_the_proxys_twins(make_site):
    # nginx's underscores_in_headers on: a legacy client's Api_Key reaches the app; twins of what the proxy vouches
    # for, or of CGI variables, stay out whatever the setting.
    site = make_site(APPS + "\n[proxy]\nunderscores_in_headers = true\n")
    twins = {"X_Forwarded_For": "6.6.6.6", "X_Forwarded_Host": "evil.example", "X_Forwarded_Prefix": "/evil",
             "Script_Name": "/evil", "X_Request_Id": "evil", "Api_Key": "k-123"}
    status, _, body = from_address(site, "127.0.0.3", "/web/headers", twins)
    assert status == 200
    headers = json.loads(body)["headers"]
    assert ["Api_Key", "k-123"] in headers
    assert not [name for name, _ in headers if "_" in name and name != "Api_Key"], headers
    seen = json.loads(from_address(site, "127.0.0.3", "/wsgi/x", twins)[2])
    assert (seen["forwarded_for"], seen["forwarded_host"]) == ("127.0.0.3", f"{site.host}:{site.port}")
    assert (seen["script_name"], seen["path_info"], seen["forwarded_prefix"]) == ("/wsgi", "/x", "/wsgi")
    plain = json.loads(from_address(site, "127.0.0.3", "/plain/x", twins)[2])
    assert [name for name in plain["header_names"] if "_" in name] == ["Api_Key"], plain
