"""`app = "..."`: "module:attribute" and gunicorn's "module:factory(literal args)" (issue 16)."""

from __future__ import annotations

import pytest

from pysupervise.app_target import AppTarget, parse_app_target
from pysupervise.config import load_config
from tests.config.test_config import error_of, write


@pytest.mark.parametrize("text, expected", [
    ("myapp:app", AppTarget("myapp", "app")),
    ("pkg.web:holder.app", AppTarget("pkg.web", "holder.app")),
    ("myapp:create_app()", AppTarget("myapp", "create_app", called=True)),
    ("myapp:create_app('prod', debug=True)",
     AppTarget("myapp", "create_app", called=True, args=("prod",), kwargs={"debug": True})),
    ('myapp:factory.make(1, [2, 3], opts={"a": None})',
     AppTarget("myapp", "factory.make", called=True, args=(1, [2, 3]), kwargs={"opts": {"a": None}})),
])
def test_spellings_the_runtime_imports(text, expected):
    target = parse_app_target(text)
    assert (target, target.args, target.kwargs) == (expected, expected.args, expected.kwargs)


def test_the_config_keeps_the_text_as_written(tmp_path):
    config = load_config(write(tmp_path, '[apps.a]\napp = "mysite:create_app(\'prod\', debug=True)"\n'))
    assert config.apps[0].app == "mysite:create_app('prod', debug=True)"


@pytest.mark.parametrize("value, expected", [
    ('"nocolon"', 'expected "module:attribute" (e.g. "myapp.web:app") or "module:factory()"'),
    ('"my-app:app"', 'expected "module:attribute"'),
    ('"myapp:"', 'expected "module:attribute"'),
    ('"myapp:create_app("', 'after the colon is neither an attribute name nor a call of one'),
    ('"myapp:1 + 2"', '"1 + 2" after the colon is neither an attribute name nor a call of one'),
    ('"myapp:make()()"', "after the colon is neither an attribute name nor a call of one"),
    ('"myapp:create_app(os.environ)"', "the arguments of create_app(...) must be literals"),
    ('"myapp:create_app(**opts)"', "the arguments of create_app(...) must be literals"),
    ('"myapp:create_app(*args)"', "the arguments of create_app(...) must be literals"),
    ("3", "expected a string, got 3"),
])
def test_errors_name_the_key_and_what_would_work(tmp_path, value, expected):
    message = error_of(tmp_path, f"[apps.a]\napp = {value}\n")
    assert "apps.a.app: " in message and expected in message.split("apps.a.app: ", 1)[1]


def test_mount_prefix_is_a_boolean(tmp_path):
    assert "apps.a.mount_prefix: expected true or false, got \"no\"" in error_of(
        tmp_path, '[apps.a]\napp = "m:app"\nroute = "/a"\nmount_prefix = "no"\n')
    config = load_config(write(tmp_path, '[apps.a]\napp = "m:app"\nroute = "/a"\nmount_prefix = false\n'))
    assert config.apps[0].mount_prefix is False
