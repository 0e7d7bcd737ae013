"""How the runtime decides what `app` is, on real framework objects (issue 16)."""

from __future__ import annotations

import asyncio
import sys

import pytest
from fastapi import FastAPI
from flask import Flask

from pysupervise.worker.detect import AppFactory, AppLoadError, LoadedApp, classify


def flask_factory() -> Flask:
    return Flask("made")


async def fastapi_factory():
    return FastAPI()


@pytest.mark.parametrize("obj, interface", [
    (Flask("x"), "wsgi"), (FastAPI(), "asgi"),  # Django's handlers need settings: tests/supervisor/test_django.py
])
def test_framework_apps_are_detected(obj, interface):
    assert classify(obj, "m:app") == LoadedApp(interface, obj)


@pytest.mark.parametrize("factory, interface", [(flask_factory, "wsgi"), (fastapi_factory, "asgi")])
def test_factories_are_called_and_what_they_return_is_detected(factory, interface):
    made = classify(factory, "m:create_app")
    assert isinstance(made, AppFactory)
    assert asyncio.run(made.make()).interface == interface


def test_an_explicit_interface_the_product_contradicts_names_the_one_that_works():
    made = classify(flask_factory, "m:create_app", "asgi")
    with pytest.raises(AppLoadError) as caught:
        asyncio.run(made.make())
    assert str(caught.value) == ('the factory m:create_app returned flask.app.Flask (a WSGI app), but supervisor.toml '
                                 'says interface = "asgi": set interface = "wsgi", or remove it ("auto" detects it)')


def test_a_factory_that_raises_is_reported_with_its_traceback():
    def broken():
        raise RuntimeError("no database")

    with pytest.raises(AppLoadError) as caught:
        asyncio.run(classify(broken, "m:broken").make())
    assert "calling the factory m:broken failed" in str(caught.value) and "RuntimeError: no database" in str(caught.value)


def test_an_aiohttp_application_is_known_without_importing_aiohttp_for_others():
    from aiohttp import web

    app = web.Application()
    assert classify(app, "m:app").interface == "aiohttp"
    with pytest.raises(AppLoadError, match='set interface = "aiohttp"'):
        classify(app, "m:app", "wsgi")
    assert "aiohttp.web" in sys.modules  # what _is_aiohttp_app reads instead of importing it


def test_an_explicit_interface_an_app_object_contradicts_is_an_error():
    with pytest.raises(AppLoadError) as caught:
        classify(Flask("x"), "m:app", "asgi")
    assert str(caught.value).startswith('m:app is flask.app.Flask (a WSGI app), but supervisor.toml says interface = '
                                        '"asgi": set interface = "wsgi"')
    assert classify(Flask("x"), "m:app", "wsgi").interface == "wsgi"
