"""Flask and FastAPI hosted the way their users expect (issue 16): mounted under a prefix, from factories.

Also the prefix rules for every interface: SCRIPT_NAME/root_path only from the proxy (a client's
X-Forwarded-Prefix is dropped), `mount_prefix = false`, `command` apps, aiohttp's unchanged URL.
"""

from __future__ import annotations

import json
import re
import sys

import pytest

from tests.support.site import Site

FRAMEWORKS = f"""
[apps.flask]
app = "flask_app:app"
dir = "{{apps}}/frameworks"
route = "/flask"
workers = 1

[apps.flask_factory]
app = "flask_app:create_app"
dir = "{{apps}}/frameworks"
route = "/flask-factory"
workers = 1

[apps.flask_called]
app = "flask_app:create_app('called', debug=True)"
dir = "{{apps}}/frameworks"
route = "/flask-called"
workers = 1
threads = 2

[apps.api]
app = "fastapi_app:app"
dir = "{{apps}}/frameworks"
route = ["/api", "/api-two"]
workers = 1

[apps.api_factory]
app = "fastapi_app:create_app_async"
dir = "{{apps}}/frameworks"
route = "/api-factory"
interface = "asgi"
workers = 1

[apps.root]
app = "asgi_app:app"
dir = "{{apps}}"
route = "/"
workers = 1

[apps.wsgi]
app = "wsgi_app:app"
dir = "{{apps}}"
route = "/wsgi"
workers = 1

[apps.unmounted]
app = "wsgi_app:app"
dir = "{{apps}}"
route = "/unmounted"
mount_prefix = false
workers = 1

[apps.plain]
command = ["{sys.executable}", "plain_server.py"]
dir = "{{apps}}"
route = ["/plain", "/plain-two"]
workers = 1

[apps.plain_one]
command = ["{sys.executable}", "plain_server.py"]
dir = "{{apps}}"
route = "/plain-one"
workers = 1

[apps.plain_unmounted]
command = ["{sys.executable}", "plain_server.py"]
dir = "{{apps}}"
route = "/plain-unmounted"
mount_prefix = false
workers = 1

[apps.aio]
app = "paths_app:create_app"
dir = "{{apps}}"
route = "/aio"
workers = 1
"""
SPOOF = {"X-Forwarded-Prefix": "/evil"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("frameworks"), FRAMEWORKS)
    try:
        yield site.start(timeout=120)
    finally:
        site.stop()


# -- Flask ------------------------------------------------------------------------------------


def test_flask_url_for_builds_links_under_the_prefix(site):
    index = site.get("/flask/").json()
    assert index["hello"] == "/flask/hello/ann"
    assert index["external"] == f"http://127.0.0.1:{site.port}/flask/hello/ann"
    hello = site.get(index["hello"]).json()  # the link it built leads back to it
    assert hello == {"greeting": "hello ann", "script_root": "/flask", "path": "/hello/ann",
                     "link": "/flask/hello/ann"}


def test_flask_at_the_bare_prefix_redirects_to_its_root(site):
    # SCRIPT_NAME="/flask" with an empty PATH_INFO: werkzeug redirects to its "/", as under gunicorn.
    response = site.get("/flask")
    assert response.status == 308 and response.header("Location") == f"http://127.0.0.1:{site.port}/flask/"


@pytest.mark.parametrize("prefix, flavour, debug", [("/flask-factory", "plain", False),
                                                    ("/flask-called", "called", True)])
def test_flask_factories_are_called_and_served_as_wsgi(site, prefix, flavour, debug):
    index = site.get(prefix + "/").json()
    assert (index["flavour"], index["debug"], index["hello"]) == (flavour, debug, f"{prefix}/hello/ann")


def test_a_flask_factory_is_detected_as_wsgi_and_takes_threads_requests_at_once(site):
    # interface = "auto": the worker tells the master what the factory returned, and a WSGI worker takes
    # `threads` requests at once (an aiohttp or ASGI one would take 100).
    workers = site.app_status("flask_called")["workers"]
    assert [w["max_concurrent_requests"] for w in workers] == [2]


# -- FastAPI ----------------------------------------------------------------------------------


def test_fastapi_docs_work_under_the_prefix(site):
    docs = site.get("/api/docs")
    assert docs.status == 200 and "swagger" in docs.text.lower()
    assert re.search(r"""url:\s*['"]/api/openapi\.json['"]""", docs.text), docs.text
    schema = site.get("/api/openapi.json")
    assert schema.status == 200
    assert schema.json()["servers"] == [{"url": "/api"}]
    assert "/items/{item_id}" in schema.json()["paths"]


def test_fastapi_routes_and_url_for_under_each_of_its_prefixes(site):
    for prefix in ("/api", "/api-two"):
        item = site.get(f"{prefix}/items/7").json()
        assert item["item_id"] == 7 and item["root_path"] == prefix
        assert item["self"] == f"http://127.0.0.1:{site.port}{prefix}/items/7"
        assert item["path"] == f"{prefix}/items/7"  # the ASGI path keeps the prefix; routing strips root_path


def test_an_async_fastapi_factory_with_an_explicit_interface(site):
    assert site.get("/api-factory/items/3").json()["root_path"] == "/api-factory"
    assert site.get("/api-factory/docs").status == 200


# -- the prefix, interface by interface --------------------------------------------------------


def test_wsgi_gets_script_name_and_the_rest_as_path_info(site):
    seen = site.get("/wsgi/a/b?x=1").json()
    assert (seen["script_name"], seen["path_info"]) == ("/wsgi", "/a/b")
    assert seen["forwarded_prefix"] == "/wsgi"


def test_a_clients_prefix_header_is_dropped_at_a_prefix(site):
    seen = site.get("/wsgi/a", headers=SPOOF).json()
    assert (seen["script_name"], seen["path_info"], seen["forwarded_prefix"]) == ("/wsgi", "/a", "/wsgi")
    plain = site.get("/plain/a", headers=SPOOF).json()
    assert plain["forwarded_prefix"] == ["/plain"]
    api = site.get("/api/items/1", headers=SPOOF).json()
    assert api["root_path"] == "/api"


def test_a_clients_prefix_header_is_dropped_at_the_root(site):
    seen = site.get("/anything", headers=SPOOF).json()
    assert seen["interface"] == "asgi"
    assert (seen["path"], seen["root_path"], seen["forwarded_prefix"]) == ("/anything", "", None)


def test_mount_prefix_false_passes_the_url_unchanged(site):
    seen = site.get("/unmounted/a", headers=SPOOF).json()
    assert (seen["script_name"], seen["path_info"], seen["forwarded_prefix"]) == ("", "/unmounted/a", None)
    plain = site.get("/plain-unmounted/a", headers=SPOOF).json()
    assert (plain["path"], plain["forwarded_prefix"], plain["script_name"]) == ("/plain-unmounted/a", None, None)


def test_a_command_app_gets_script_name_and_the_header_of_its_route(site):
    seen = site.get("/plain-one/x").json()
    assert (seen["path"], seen["script_name"], seen["forwarded_prefix"]) == ("/plain-one/x", "/plain-one",
                                                                            ["/plain-one"])


def test_a_command_app_with_two_routes_gets_the_header_of_the_one_that_matched(site):
    # No SCRIPT_NAME in its environment: it could name one route only, and gunicorn refuses a request
    # whose path does not start with it. The header names each request's own route.
    for prefix in ("/plain", "/plain-two"):
        seen = site.get(f"{prefix}/x").json()
        assert (seen["path"], seen["script_name"], seen["forwarded_prefix"]) == (f"{prefix}/x", None, [prefix])


def test_aiohttp_sees_the_url_unchanged(site):
    seen = site.get("/aio/a/b", headers=SPOOF).json()
    assert seen["path"] == "/aio/a/b"
    # The header is the proxy's, not the client's; aiohttp apps may read it, nothing acts on it.
    assert [v for k, v in seen["headers"] if k.lower() == "x-forwarded-prefix"] == ["/aio"]


# -- errors that say what would work -----------------------------------------------------------


def test_an_interface_the_factory_contradicts_is_named_with_the_one_that_works(make_site):
    site = make_site("""
[apps.ok]
app = "asgi_app:app"
dir = "{apps}"
route = "/"
workers = 1

[apps.wrong]
app = "flask_app:create_app"
dir = "{apps}/frameworks"
route = "/wrong"
interface = "asgi"
workers = 1
""")
    site.wait_for(lambda: site.app_status("wrong")["state"] == "failed", 60, "the app to fail")
    response = site.get("/wrong/", headers={"Accept": "application/json"})
    assert response.status == 503
    stderr = response.json()["worker_stderr"]
    assert "the factory flask_app:create_app returned flask.app.Flask (a WSGI app)" in stderr
    assert 'set interface = "wsgi"' in stderr
    assert site.get("/x").status == 200


def test_a_factory_that_returns_no_app_says_what_it_returned(make_site, tmp_path):
    folder = tmp_path / "factory"
    folder.mkdir()
    (folder / "nothing.py").write_text("def create_app():\n    return {'not': 'an app'}\n")
    site = make_site(f"""
[apps.nothing]
app = "nothing:create_app()"
dir = "{folder}"
route = "/"
workers = 1
""")
    site.wait_for(lambda: site.app_status("nothing")["state"] == "failed", 60, "the app to fail")
    stderr = site.get("/", headers={"Accept": "application/json"}).json()["worker_stderr"]
    assert "the factory nothing:create_app() returned dict, which is not an app" in stderr


def test_json_bodies_are_the_apps_own(site):
    # A guard on the fixtures above: each app answered with its own JSON, not an error page of ours.
    assert json.loads(site.get("/flask/hello/x").body)["greeting"] == "hello x"


# -- the default watch -------------------------------------------------------------------------


def test_supervisor_toml_in_an_apps_folder_is_a_config_reread_not_a_save(make_site):
    # dir = "." is the config's folder: the default watch's **/*.toml would match supervisor.toml itself.
    site = make_site('''
[apps.here]
app = "here:app"
dir = "."
workers = 1
''', start=False)
    (site.workdir / "here.py").write_text("def app(environ, start_response):\n"
                                          "    start_response('200 OK', [])\n    return [b'here']\n")
    site.start()
    good = site.config_path.read_text()
    # Invalid (but TOML, so `status` still finds the master): the master says so and changes nothing.
    site.config_path.write_text(good.replace("workers = 1", 'workers = "many"'))
    site.wait_for(lambda: site.status()["config_error"], 30, "the broken config to be read")
    site.config_path.write_text(good)
    site.wait_for(lambda: not site.status()["config_error"], 30, "the fixed config to be read")
    (site.workdir / "page.html").write_text("<p>a template</p>")  # a save the default watch takes
    site.wait_for(lambda: site.app_status("here")["generation"] == 2, 30, "the template save to reload the app")
    reloads = [line for line in (site.log_dir / "here" / "events.log").read_text().splitlines()
               if "reload-started" in line and "file changed" in line]
    assert len(reloads) == 1 and "page.html" in reloads[0], reloads
