"""A Django project hosted as `app = "mysite.wsgi:application"` (and asgi) under a prefix (issue 16).

The project (tests/apps/frameworks/django_site) is copied to a temporary folder, so its sqlite database
and the template this test edits live there: production-like settings (DEBUG off, Django's cached
template loader), static files collected and served by the proxy.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import urllib.parse

import pytest

from tests.support.site import TEST_APPS, Site

PROJECT = TEST_APPS / "frameworks" / "django_site"
SITE = """
[apps.django]
app = "mysite.wsgi:application"
dir = "{project}"
route = "/django"
workers = 1
static = {{ "/django/static" = "collected_static" }}

[apps.django_asgi]
app = "mysite.asgi:application"
dir = "{project}"
route = "/django-asgi"
workers = 1
"""


def manage(project, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=project, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = tmp_path_factory.mktemp("django") / "django_site"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3", "collected_static"))
    manage(project, "migrate", "--noinput", "-v0")
    manage(project, "collectstatic", "--noinput", "-v0")
    return project


@pytest.fixture(scope="module")
def site(tmp_path_factory, project):
    site = Site(tmp_path_factory.mktemp("django-site"), SITE.format(project=project))
    try:
        yield site.start(timeout=120)
    finally:
        site.stop()


def add_note(site, prefix: str, text: str) -> str:
    """Post the form as a browser would (CSRF cookie and token); returns the redirect's Location."""
    page = site.get(f"{prefix}/notes/")
    assert page.status == 200
    cookie = next(v for v in page.header_all("Set-Cookie") if v.startswith("csrftoken="))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    assert action == f"{prefix}/notes/"  # {% url %} under the prefix
    form = urllib.parse.urlencode({"text": text, "csrfmiddlewaretoken": token}).encode()
    response = site.request("POST", action, body=form,
                            headers={"Content-Type": "application/x-www-form-urlencoded",
                                     "Cookie": cookie.split(";", 1)[0],
                                     "Origin": f"http://127.0.0.1:{site.port}"})
    assert response.status == 302, response.text
    return response.header("Location")


@pytest.mark.parametrize("prefix", ["/django", "/django-asgi"])
def test_reverse_and_a_sqlite_model_under_the_prefix(site, prefix):
    assert add_note(site, prefix, f"note via {prefix}") == f"{prefix}/notes/"
    page = site.get(f"{prefix}/notes/").text
    link = re.search(rf'<a href="({re.escape(prefix)}/notes/\d+/)">note via {re.escape(prefix)}</a>', page)
    assert link, page
    detail = site.get(link.group(1)).json()
    pk = link.group(1).rstrip("/").rsplit("/", 1)[1]
    assert detail == {"text": f"note via {prefix}", "self": f"{prefix}/notes/{pk}/", "list": f"{prefix}/notes/",
                      "script_name": prefix, "path_info": f"/notes/{pk}/", "path": f"{prefix}/notes/{pk}/",
                      "secure": False}


def test_collected_static_files_are_linked_under_the_prefix_and_served_by_the_proxy(site):
    page = site.get("/django/notes/").text
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
    assert href == "/django/static/notes/style.css"
    css = site.get(href)
    assert css.status == 200 and b"font-family" in css.body and css.header("ETag")  # the proxy's static answer


def test_https_at_a_trusted_balancer_is_what_django_sees(make_site, project):
    site = make_site(SITE.format(project=project) + '\n[proxy]\ntrusted_proxies = ["127.0.0.1"]\n')
    assert add_note(site, "/django", "secure note") == "/django/notes/"
    first = re.search(r'<a href="(/django/notes/\d+/)">', site.get("/django/notes/").text).group(1)
    assert site.get(first, headers={"X-Forwarded-Proto": "https"}).json()["secure"] is True
    assert site.get(first, headers={"X-Forwarded-Proto": "https"}, source="127.0.0.3").json()["secure"] is False


def test_a_template_edit_reloads_with_the_default_watch_and_database_writes_do_not(site, project):
    # Writes to db.sqlite3 (and its journal) in the app's folder are no saves: still generation 1.
    add_note(site, "/django", "written while watched")
    assert site.app_status("django")["generation"] == 1
    template = project / "notes" / "templates" / "notes" / "list.html"
    template.write_text(template.read_text().replace("Notes, version 1", "Notes, version 2"))
    for prefix, app in (("/django", "django"), ("/django-asgi", "django_asgi")):
        # DEBUG off: Django's cached template loader would serve version 1 until the app reloads.
        site.wait_for(lambda: "Notes, version 2" in site.get(f"{prefix}/notes/").text, 60, f"{app} to reload")
        assert site.app_status(app)["generation"] == 2
