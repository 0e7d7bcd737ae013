"""`threads` (WSGI apps) and the `max_concurrent_requests` it implies (issue 15 point 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pysupervise.config import ConfigError, load_config


def app_of(tmp_path: Path, body: str):
    path = tmp_path / "supervisor.toml"
    path.write_text("[apps.a]\n" + body)
    return load_config(path).apps[0]


def error_of(tmp_path: Path, body: str) -> str:
    with pytest.raises(ConfigError) as caught:
        app_of(tmp_path, body)
    return str(caught.value)


def test_a_wsgi_app_takes_as_many_requests_as_it_has_threads(tmp_path):
    app = app_of(tmp_path, 'app = "m:app"\ninterface = "wsgi"\nthreads = 24\n')
    assert app.threads == 24 and app.request_slots() == 24


def test_an_explicit_max_concurrent_requests_wins(tmp_path):
    app = app_of(tmp_path, 'app = "m:app"\ninterface = "wsgi"\nthreads = 4\nmax_concurrent_requests = 50\n')
    assert app.request_slots() == 50 and app.request_slots("wsgi") == 50


def test_auto_is_decided_by_what_the_runtime_detected(tmp_path):
    app = app_of(tmp_path, 'app = "m:app"\nthreads = 6\nmax_concurrent_requests = "auto"\n')
    assert app.request_slots("wsgi") == 6
    assert app.request_slots("asgi") == app.request_slots("aiohttp") == app.request_slots(None) == 100


def test_command_apps_keep_the_event_loop_default(tmp_path):
    app = app_of(tmp_path, 'command = ["gunicorn"]\n')
    assert app.request_slots() == 100 and app.request_slots("wsgi") == 100


@pytest.mark.parametrize("value", [0, -1, 2.5, "many", True])
def test_threads_must_be_a_positive_integer(tmp_path, value):
    raw = f'"{value}"' if isinstance(value, str) else str(value).lower()
    message = error_of(tmp_path, f'app = "m:app"\nthreads = {raw}\n')
    assert "supervisor.toml" in message and "apps.a.threads" in message and "positive integer" in message


@pytest.mark.parametrize("body, says", [
    ('command = ["gunicorn"]\nthreads = 4\n', "a `command` serves HTTP itself"),
    ('app = "m:app"\ninterface = "asgi"\nthreads = 4\n', "interface = 'asgi'"),
    ('app = "m:app"\ninterface = "aiohttp"\nthreads = 4\n', "interface = 'aiohttp'"),
])
def test_threads_for_an_app_that_is_not_wsgi_is_an_error(tmp_path, body, says):
    message = error_of(tmp_path, body)
    assert "supervisor.toml" in message and "apps.a.threads" in message and says in message


@pytest.mark.parametrize("value", [0, "lots"])
def test_max_concurrent_requests_is_a_positive_integer_or_auto(tmp_path, value):
    raw = f'"{value}"' if isinstance(value, str) else str(value)
    message = error_of(tmp_path, f'app = "m:app"\nmax_concurrent_requests = {raw}\n')
    assert "apps.a.max_concurrent_requests" in message and '"auto"' in message
