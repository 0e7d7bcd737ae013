"""supervisor.toml parsing: defaults, every error naming the file and the key path (issue 2)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from pysupervise.config import ConfigError, load_config, settings_of
from pysupervise.config.model import (DEFAULT_WATCH, AdminSettings, AppConfig, LogSettings, ProxySettings,
                                      ServicesSettings, SupervisorSettings)

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "supervisor.toml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return str(caught.value)


def test_minimal_app_gets_documented_defaults(tmp_path):
    config = load_config(write(tmp_path, '[apps.a]\napp = "m:app"\n'))
    app = config.apps[0]
    assert app.name == "a" and app.app == "m:app" and app.command is None
    assert app.route == ("/",) and app.host is None and app.dir == tmp_path.resolve()
    assert app.workers == len(os.sched_getaffinity(0))
    assert (app.max_concurrent_requests, app.queue_limit, app.queue_timeout) == (None, 1000, 30.0)
    assert app.threads == 10 and app.request_slots() == 100 and app.request_slots("wsgi") == 10
    assert (app.graceful_timeout, app.start_timeout, app.upstream_timeout) == (30.0, 30.0, 60.0)
    assert app.watch == tuple(DEFAULT_WATCH) and app.sticky is False and app.env == ()
    assert "**/*.py" in app.watch and "**/*.html" in app.watch and app.mount_prefix is True
    assert config.supervisor.listen.host == "127.0.0.1" and config.supervisor.listen.port == 8080
    assert config.supervisor.run_dir == tmp_path.resolve() / ".pysupervise" / "run"
    assert config.proxy.max_header_size == 64 * 1024 and config.proxy.max_body_size == 100 * 1024 * 1024
    assert [str(n) for n in config.admin.allow] == ["127.0.0.0/8", "::1/128"]


def test_the_design_sketch_parses(tmp_path):
    config = load_config(write(tmp_path, f"""
        [supervisor]
        listen = "127.0.0.1:8080"
        run_dir = ".pysupervise/run"
        log_dir = ".pysupervise/logs"

        [admin]
        allow = ["127.0.0.1/8", "::1"]
        token_env = "PYSUPERVISE_ADMIN_TOKEN"

        [apps.frontend]
        app = "sample_apps.wazstagram.frontend:create_app"
        dir = "{REPO}"
        route = "/"
        workers = "auto"
        watch = ["sample_apps/wazstagram/**/*.py"]
        max_concurrent_requests = 100
        queue_limit = 1000
        queue_timeout = 30
        graceful_timeout = 30
        sticky = false
        env = {{ CITY_CACHE = "150" }}
        """))
    app = config.app("frontend")
    assert app.env_dict == {"CITY_CACHE": "150"} and app.watch == ("sample_apps/wazstagram/**/*.py",)


def test_the_repos_own_config_is_valid():
    config = load_config(REPO / "supervisor.toml")
    assert config.apps


@pytest.mark.parametrize("snippet, expected", [
    ('[apps.frontend]\napp = "x:y"\nworkers = "x"',
     'apps.frontend.workers: expected a positive integer or "auto", got "x"'),
    ('[apps.a]\napp = "x:y"\nworkers = 0', 'apps.a.workers: expected a positive integer or "auto", got 0'),
    ('[apps.a]\napp = "x:y"\nworker = 2', "apps.a.worker: unknown key (did you mean 'workers'?)"),
    ('[apps.a]\napp = "x:y"\n[supervisr]\n', "supervisr: unknown key (did you mean 'supervisor'?)"),
    ('[apps.a]\n', "apps.a: set exactly one of `app`"),
    ('[apps.a]\napp = "x:y"\ncommand = ["python"]', "apps.a: set exactly one of `app`"),
    ('[apps.a]\napp = "nocolon"', 'apps.a.app: expected "module:attribute"'),
    ('[apps.a]\ncommand = []', "apps.a.command: expected a program and its arguments"),
    ('[apps.a]\ncommand = ["x"]\ninterface = "asgi"', "apps.a.interface: only applies to `app`"),
    ('[apps.a]\ncommand = ["x"]\nready_path = "health"',
     'apps.a.ready_path: expected a URL path starting with "/" (or "" for no probe), got "health"'),
    ('[apps.a]\napp = "x:y"\nready_path = true', "apps.a.ready_path: expected a string, got true"),
    ('[apps.a]\napp = "x:y"\nready_path = "/a b"', 'apps.a.ready_path: expected a URL path starting with "/"'),
    ('[apps.a]\napp = "x:y"\ninterface = "rsgi"', 'apps.a.interface: expected one of "auto", "aiohttp", "asgi"'),
    ('[apps.a]\napp = "x:y"\ncpu_scheduling = "fifo"', 'apps.a.cpu_scheduling: expected one of "batch", "normal"'),
    ('[apps.a]\napp = "x:y"\nroute = "chat"', 'apps.a.route: expected a URL path starting with "/", got "chat"'),
    ('[apps.a]\napp = "x:y"\nroute = "/c"\n[apps.b]\napp = "x:y"\nroute = "/c/"',
     "apps.b.route: route '/c' is already claimed by app 'a'"),
    ('[apps.a]\napp = "x:y"\ndir = "nowhere"', "apps.a.dir: "),
    ('[apps.a]\napp = "x:y"\nenv = { N = true }', "apps.a.env.N: expected a string, got true"),
    ('[apps.a]\napp = "x:y"\nqueue_timeout = -1', "apps.a.queue_timeout: expected a number of seconds > 0"),
    ('[apps.a]\napp = "x:y"\n[proxy]\nmax_body_size = "lots"', "proxy.max_body_size: expected a size in bytes"),
    ('[apps.a]\napp = "x:y"\n[proxy]\nprocesses = 0', 'proxy.processes: expected a positive integer or "auto"'),
    ('[apps.a]\napp = "x:y"\n[supervisor]\nlisten = "8080"', 'supervisor.listen: expected "HOST:PORT"'),
    ('[apps.a]\napp = "x:y"\n[admin]\nallow = ["not-an-ip"]', "admin.allow: expected IP addresses or CIDR"),
    ('[apps.a]\napp = "x:y"\n[services]\nbus = "kafka://x"', 'services.bus: expected "embedded" or a Redis URL'),
    ('[apps.a]\napp = "x:y"\n[services]\ncache = 3', "services.cache: expected a string, got 3"),
    ('[apps."_hidden"]\napp = "x:y"', "apps._hidden: app names use letters"),
    ('[apps.a]\napp = "x:y"\nstatus_segment = "a/b"', "apps.a.status_segment: expected one URL path segment"),
    ('[apps.a]\napp = "x:y"\nlogs_segment = "status"',
     "apps.a.logs_segment: 'status' is also the status_segment of app 'a'; each admin page needs its own segment"),
    ('[apps.a]\napp = "x:y"\n[admin]\ndebug_segment = "logs"',
     "admin.debug_segment: 'logs' is also the logs_segment of app 'a'"),
    ('apps = 3', "apps: expected a table"),
    ('[supervisor]\n', "apps: no apps defined"),
    ('[apps.a\napp = "x:y"', "invalid TOML"),
])
def test_errors_name_the_file_and_the_key(tmp_path, snippet, expected):
    message = error_of(tmp_path, snippet)
    assert message.startswith(f"{tmp_path / 'supervisor.toml'}: ")
    assert expected in message


def test_same_route_on_different_hosts_is_allowed(tmp_path):
    config = load_config(write(tmp_path, """
        [apps.a]
        app = "x:y"
        host = "a.example"
        [apps.b]
        app = "x:y"
        host = "b.example"
        """))
    assert [a.host for a in config.apps] == ["a.example", "b.example"]


def test_route_list_and_sizes_and_command_string(tmp_path):
    config = load_config(write(tmp_path, """
        [proxy]
        max_body_size = "2 MiB"
        max_header_size = 8192
        [apps.sim]
        command = "python -m sim --flag 'two words'"
        route = ["/v1", "/media/"]
        """))
    assert config.proxy.max_body_size == 2 * 1024 * 1024 and config.proxy.max_header_size == 8192
    assert config.app("sim").route == ("/v1", "/media")
    assert config.app("sim").command == ("python", "-m", "sim", "--flag", "two words")


def test_ready_path_defaults_to_slash_for_commands_only_and_can_be_turned_off(tmp_path):
    config = load_config(write(tmp_path, """
        [apps.cmd]
        command = ["server"]
        route = "/cmd"
        [apps.quiet]
        command = ["server"]
        route = "/quiet"
        ready_path = ""
        [apps.off]
        command = ["server"]
        route = "/off"
        ready_path = false
        [apps.py]
        app = "x:y"
        route = "/py"
        [apps.probed]
        app = "x:y"
        route = "/probed"
        ready_path = "/healthz?deep=1"
        """))
    assert {app.name: app.ready_path for app in config.apps} == {
        "cmd": "/", "quiet": None, "off": None, "py": None, "probed": "/healthz?deep=1"}


def test_listen_override_and_port_zero(tmp_path):
    config = load_config(write(tmp_path, '[apps.a]\napp = "x:y"\n'), listen="[::1]:0")
    assert config.supervisor.listen.host == "::1" and config.supervisor.listen.port == 0
    with pytest.raises(ConfigError, match="--listen"):
        load_config(write(tmp_path, '[apps.a]\napp = "x:y"\n'), listen="nope")


def test_run_dir_too_long_for_unix_sockets(tmp_path):
    message = error_of(tmp_path, f'[supervisor]\nrun_dir = "{"/x" * 60}"\n[apps.a]\napp = "x:y"\n')
    assert "supervisor.run_dir: worker socket paths" in message and "107-byte limit" in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_every_key_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for cls in (SupervisorSettings, AdminSettings, ProxySettings, LogSettings, ServicesSettings, AppConfig):
        for key, _parser, _default, doc in settings_of(cls):
            assert doc, f"{cls.__name__}.{key} has no doc"
            assert f"`{key}`" in readme, f"README.md does not document `{key}`"


def test_readme_config_reference_matches_the_code():
    import importlib.util

    spec = importlib.util.spec_from_file_location("config_reference", REPO / "scripts" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.readme_section((REPO / "README.md").read_text()) == module.reference().strip("\n"), \
        "README.md is stale: run python3 scripts/config_reference.py --write"


def test_an_apps_admin_segments_default_to_the_admin_ones(tmp_path):
    config = load_config(write(tmp_path, """
        [admin]
        logs_segment = "_logs"
        index_path = "/_admin/"
        [apps.a]
        app = "x:y"
        status_segment = "_status"
        [apps.b]
        app = "x:y"
        route = "/b"
        debug = false
        """))
    a, b = config.apps
    assert config.admin.app_pages(a) == ("/a/_logs", "/a/_status", "/a/debug")
    assert config.admin.app_pages(b) == ("/b/_logs", "/b/status")  # debug = false: that URL is the app's
    assert config.admin.status_home("a") == "/_admin/a/"
    assert config.admin.segments(b).kind_of("status") == "status" and config.admin.segments(b).kind_of("x") is None


def test_proxy_processes_auto_is_one_front_per_four_cores(tmp_path):
    config = load_config(write(tmp_path, '[apps.a]\napp = "x:y"\n[proxy]\nprocesses = "auto"\n'))
    assert config.proxy.processes == max(1, len(os.sched_getaffinity(0)) // 4)
    assert load_config(write(tmp_path, '[apps.a]\napp = "x:y"\n')).proxy.processes == 1
