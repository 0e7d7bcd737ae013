"""`staging = { dir, route, host }`: the app's second folder becomes the app NAME~staging (issue 17 §3)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pysupervise.config import ConfigError, load_config
from pysupervise.supervisor.config_changes import compare


def config_in(tmp_path: Path, text: str):
    for folder in ("shop", "shop-next", "shop/public", "shop-next/public", "shop/next"):
        (tmp_path / folder).mkdir(exist_ok=True)
    path = tmp_path / "supervisor.toml"
    # pytest's folders are deep: a short run_dir keeps the worker socket paths within the limit.
    path.write_text('[supervisor]\nrun_dir = "/tmp/ps-staging"\n' + textwrap.dedent(text))
    return load_config(path)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        config_in(tmp_path, text)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'supervisor.toml'}: ")
    return message


APP = """
[apps.shop]
app = "m:app"
dir = "shop"
route = "/shop"
"""


def test_the_staging_folder_is_one_more_app_with_its_own_dir_and_route(tmp_path):
    config = config_in(tmp_path, APP + 'static = { "/assets" = "public" }\nenv = { A = "1" }\n'
                                       'staging = { dir = "shop-next", route = "/shop-staging" }\n')
    shop, staged = config.apps
    assert shop.staging.dir == (tmp_path / "shop-next").resolve() and shop.staging_of is None
    assert (staged.name, staged.staging_of, staged.staging) == ("shop~staging", "shop", None)
    assert (staged.dir, staged.route, staged.host) == ((tmp_path / "shop-next").resolve(), ("/shop-staging",), None)
    # Everything else is the app's; its static folders are the staging folder's own.
    assert staged.app == "m:app" and staged.env == (("A", "1"),) and staged.workers == shop.workers
    assert staged.static == (("/assets", (tmp_path / "shop-next" / "public").resolve()),)
    assert config.app("shop~staging") is staged


def test_staging_by_host_keeps_the_apps_route(tmp_path):
    config = config_in(tmp_path, APP + 'host = "shop.example"\nstatic = { "/assets" = "public" }\n'
                                       'staging = { dir = "shop-next", host = "staging.example" }\n')
    staged = config.app("shop~staging")
    assert (staged.route, staged.host) == (("/shop",), "staging.example")
    # On another host the static prefixes do not collide; by route only they would be production's.
    only_route = config_in(tmp_path, APP + 'static = { "/assets" = "public" }\n'
                                           'staging = { dir = "shop-next", route = "/staging" }\n')
    assert only_route.app("shop~staging").host is None


@pytest.mark.parametrize("staging, expected", [
    ('"shop-next"', 'apps.shop.staging: expected an inline table such as { dir = "../shop-next", route = '
                    '"/shop-staging" }, got "shop-next"'),
    ('{ route = "/s" }', "apps.shop.staging.dir: missing: the folder the staging side runs from"),
    ('{ dir = "shop-next" }', "apps.shop.staging: set `route`, `host` or both"),
    ('{ dir = "shop-next", host = "" }', "apps.shop.staging: set `route`, `host` or both"),
    ('{ dir = "nowhere", route = "/s" }', "apps.shop.staging.dir: "),
    ('{ dir = "shop", route = "/s" }', "apps.shop.staging.dir: "),
    ('{ dir = "shop-next", route = "/s", workers = 2 }', "apps.shop.staging.workers: unknown key (known keys: "
                                                         "dir, route, host)"),
    ('{ dir = "shop-next", route = "s" }', 'apps.shop.staging.route: expected a URL path starting with "/"'),
    ('{ dir = "shop-next", route = "/shop" }', "apps.shop.staging.route: route '/shop' is already claimed by "
                                               "app 'shop'"),
])
def test_staging_errors_name_the_key(tmp_path, staging, expected):
    other = '\n[apps.other]\napp = "m:app"\nroute = "/other"\n'
    assert expected in error_of(tmp_path, APP + f"staging = {staging}\n" + other)


def test_an_app_after_it_cannot_take_the_staging_route(tmp_path):
    message = error_of(tmp_path, APP + 'staging = { dir = "shop-next", route = "/s" }\n'
                                       '[apps.later]\napp = "m:app"\nroute = "/s"\n')
    assert "apps.later.route: route '/s' is already claimed by the staging side of app 'shop'" in message


def test_a_staging_host_collision_names_the_host(tmp_path):
    message = error_of(tmp_path, APP + 'staging = { dir = "shop-next", host = "s.example" }\n'
                                       '[apps.other]\napp = "m:app"\nroute = "/shop"\nhost = "S.example"\n')
    assert "apps.other.route: route '/shop' on host 'S.example' is already claimed by the staging side" in message
    first = error_of(tmp_path, '[apps.other]\napp = "m:app"\nroute = "/shop"\nhost = "s.example"\n' + APP +
                     'staging = { dir = "shop-next", host = "s.example" }\n')
    assert "apps.shop.staging.host: route '/shop' on host 's.example' is already claimed by app 'other'" in first


def test_a_command_app_moved_to_another_route_would_keep_its_old_script_name(tmp_path):
    command = '[apps.shop]\ncommand = ["server"]\ndir = "shop"\nroute = "/shop"\n'
    message = error_of(tmp_path, command + 'staging = { dir = "shop-next", route = "/s" }\n')
    assert "apps.shop.staging.route: a `command` app gets SCRIPT_NAME once" in message
    # By host (same route), or without a prefix, both folders answer alike on either side.
    assert config_in(tmp_path, command + 'staging = { dir = "shop-next", host = "s.example" }\n').app("shop~staging")
    assert config_in(tmp_path, command + 'mount_prefix = false\nstaging = { dir = "shop-next", route = "/s" }\n')


def test_a_new_staging_table_reloads_the_staging_side_only(tmp_path):
    old = config_in(tmp_path, APP + 'staging = { dir = "shop-next", route = "/s" }\n')
    new = config_in(tmp_path, APP + 'staging = { dir = "shop-next", route = "/t" }\n')
    changes = compare(old, new)
    assert [app.name for app in changes.changed] == ["shop~staging"] and not changes.added
    shared = config_in(tmp_path, APP + 'env = { A = "2" }\nstaging = { dir = "shop-next", route = "/t" }\n')
    assert [app.name for app in compare(new, shared).changed] == ["shop", "shop~staging"]
    removed = compare(new, config_in(tmp_path, APP))
    assert removed.removed == ("shop~staging",) and not removed.changed
