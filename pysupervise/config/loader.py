"""Reads supervisor.toml into a validated Config; every error names the file and the key path."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any

from pysupervise.config.errors import ConfigError
from pysupervise.config.model import SECTIONS, AdminSettings, AppConfig, Config, settings_of, staging_name
from pysupervise.config.values import ListenAddress, Where, shown

_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# sun_path is 108 bytes including the terminating NUL.
_UNIX_PATH_MAX = 107
# Room for "<app>/<generation>-<slot>.sock" with generous generation and slot numbers.
_SOCKET_NAME_ROOM = len("/999999-999.sock")


def load_config(path: str | Path, listen: str | None = None) -> Config:
    """Load and validate `path`; `listen` ("HOST:PORT") overrides [supervisor] listen."""
    shown_name = str(path)
    file = Path(path)
    try:
        raw_text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(shown_name, "", "no such file (create it, or pass -c FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(shown_name, "", f"cannot read: {exc}") from None
    return parse_config(raw_text, file, shown_name, listen)


def parse_config(raw_text: str, file: Path, shown_name: str, listen: str | None = None) -> Config:
    try:
        document = tomllib.loads(raw_text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(shown_name, "", f"invalid TOML: {exc}") from None
    base = Where(shown_name, "", file.resolve().parent)
    _reject_unknown(document, set(SECTIONS) | {"apps"}, base)
    sections = {name: _build(cls, _table(document, name, base), base.child(name)) for name, cls in SECTIONS.items()}
    if listen is not None:
        from pysupervise.config.values import listen_address

        address: ListenAddress = listen_address(listen, Where("--listen", "", base.base_dir))
        sections["supervisor"] = dataclasses.replace(sections["supervisor"], listen=address)
    apps = _build_apps(_table(document, "apps", base), base.child("apps"))
    _check_admin_segments(apps, sections["admin"], base)
    config = Config(file=file.resolve(), apps=apps, **sections)
    _check_socket_paths(config, base)
    return config


def _table(document: dict[str, Any], key: str, where: Where) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise where.child(key).error(f"expected a table ([{key}]), got {shown(value)}")
    return value


def _reject_unknown(table: dict[str, Any], known: set[str], where: Where) -> None:
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(sorted(known))})"
            raise where.child(key).error("unknown key" + hint)


def _build(cls: type, table: dict[str, Any], where: Where, **internal: Any) -> Any:
    keys = {key: (parser, default) for key, parser, default, _doc in settings_of(cls)}
    _reject_unknown(table, set(keys), where)
    parsed = {}
    for key, (parser, default) in keys.items():
        raw = table.get(key, default)
        parsed[key] = None if raw is None else parser(raw, where.child(key))
    return cls(**internal, **parsed)


def _build_apps(table: dict[str, Any], where: Where) -> tuple[AppConfig, ...]:
    if not table:
        raise where.error("no apps defined; add at least one [apps.NAME] table with `app` or `command`")
    apps = []
    for name, app_table in table.items():
        app_where = where.child(name)
        if not _APP_NAME.match(name):
            raise app_where.error("app names use letters, digits, '-' and '_' (at most 64, not starting with '_')")
        if not isinstance(app_table, dict):
            raise app_where.error(f"expected a table ([apps.{name}]), got {shown(app_table)}")
        raw = app = _build(AppConfig, app_table, app_where, name=name)
        app = dataclasses.replace(app, static=_static_folders(app, app_where.child("static")),
                                  python=_interpreter(app, app_where.child("python")))
        if (app.app is None) == (app.command is None):
            raise app_where.error("set exactly one of `app` (\"module:attribute\") or `command` (a program)")
        if app.command is not None and "interface" in app_table:
            raise app_where.child("interface").error("only applies to `app`; a `command` serves HTTP itself")
        if "threads" in app_table and (app.command is not None or app.interface in ("aiohttp", "asgi")):
            serves = "a `command` serves HTTP itself" if app.command is not None else \
                f"interface = {app.interface!r} handles requests on its event loop"
            raise app_where.child("threads").error(f"only applies to WSGI apps; {serves} (remove `threads`)")
        if app.command is not None and "ready_path" not in app_table:
            # A program may listen before its app can answer (gunicorn without --preload): probe it.
            app = dataclasses.replace(app, ready_path="/")
        apps.append(app)
        if app.staging is not None:
            apps.append(_staging_side(app, raw, app_where))
    _check_routes(apps, where)
    return tuple(apps)


def _staging_side(app: AppConfig, raw: AppConfig, where: Where) -> AppConfig:
    """NAME~staging: the app with its staging folder as `dir`, the staging route and host, and `static` and
    `python` resolved against that folder (each folder may have its own venv)."""
    slot = app.staging
    if slot.dir == app.dir:
        raise where.child("staging").child("dir").error(f"{slot.dir} is the app's own dir; the staging side needs "
                                                        "a folder of its own")
    route = slot.route or app.route
    if dataclasses.replace(app, route=route).command_script_name != app.command_script_name:
        raise where.child("staging").child("route").error(
            "a `command` app gets SCRIPT_NAME once, when it starts, and a swap moves each folder to the other "
            "route: give the staging side the app's route on a `host` of its own, or set mount_prefix = false")
    moved = dataclasses.replace(raw, dir=slot.dir)
    return dataclasses.replace(app, name=staging_name(app.name), dir=slot.dir, route=route,
                               host=slot.host or app.host, staging=None, staging_of=app.name,
                               static=_static_folders(moved, where.child("static")),
                               python=_interpreter(moved, where.child("python")))


def _static_folders(app: AppConfig, where: Where) -> tuple[tuple[str, Path], ...]:
    folders = []
    for prefix, raw in app.static:
        folder = (app.dir / raw).resolve()
        if not folder.is_dir():
            raise where.child(prefix).error(f"{folder} is not an existing folder (relative paths start at the app's dir)")
        folders.append((prefix, folder))
    return tuple(folders)


def _interpreter(app: AppConfig, where: Where) -> str | None:
    """An absolute path to the app's Python. Never resolved through symlinks: a venv's bin/python is a link to
    the base interpreter, and only the link's own path tells Python which venv it runs."""
    if app.python is None:
        return None
    raw = os.path.expanduser(app.python)
    if "/" in raw:
        path = os.path.normpath(os.path.join(app.dir, raw))
    else:
        found = shutil.which(raw)
        if found is None:
            raise where.error(f"no program named {raw!r} on PATH (give a path such as \".venv/bin/python\")")
        path = os.path.abspath(found)
    if not os.path.isfile(path):
        raise where.error(f"{path} does not exist (relative paths start at the app's dir; a venv's interpreter "
                          f"is <venv>/bin/python)")
    if not os.access(path, os.X_OK):
        raise where.error(f"{path} is not executable")
    return path


def _check_routes(apps: list[AppConfig], where: Where) -> None:
    claimed: dict[tuple[str | None, str], str] = {}
    by_name = {app.name: app for app in apps}
    for app in apps:
        host = _lower(app.host)
        # A staging side on the app's own host leaves the static prefixes (absolute URLs) to production.
        parent = by_name.get(app.staging_of or "")
        static = () if parent is not None and host == _lower(parent.host) else app.static
        for prefix in (*app.route, *(prefix for prefix, _folder in static)):
            key = (host, prefix)
            if key in claimed:
                on_host = f" on host {app.host!r}" if app.host else ""
                key_path = where.child(app.name).child("route")
                if parent is not None:  # name the key the user wrote: staging's own route, else its host
                    key_path = where.child(parent.name).child("staging").child("route" if parent.staging.route
                                                                                  else "host")
                raise key_path.error(f"route {prefix!r}{on_host} is already claimed by {claimed[key]}")
            claimed[key] = (f"the staging side of app {app.staging_of!r}" if app.staging_of is not None
                            else f"app {app.name!r}")


def _lower(host: str | None) -> str | None:
    return host.lower() if host else None


def _check_admin_segments(apps: tuple[AppConfig, ...], admin: AdminSettings, base: Where) -> None:
    """An app's log browser, status page and debugger need three different URLs."""
    for app in apps:
        segments = admin.segments(app)
        chosen = [("logs_segment", segments.logs), ("status_segment", segments.status),
                  ("debug_segment", segments.debug)]
        for index, (key, segment) in enumerate(chosen):
            for other_key, other in chosen[:index]:
                if segment == other:
                    # Name the key the app set, if it set one: that is the line to change.
                    moved_other = getattr(app, key) is None and getattr(app, other_key) is not None
                    named, clash = (other_key, key) if moved_other else (key, other_key)
                    own = getattr(app, named) is not None
                    where = base.child("apps").child(app.name) if own else base.child("admin")
                    raise where.child(named).error(f"{segment!r} is also the {clash} of app {app.name!r}; "
                                                   "each admin page needs its own segment")


def _check_socket_paths(config: Config, base: Where) -> None:
    run_dir = str(config.supervisor.run_dir)
    longest_app = max(len(app.name) for app in config.apps)
    length = len(run_dir) + 1 + longest_app + _SOCKET_NAME_ROOM
    if length > _UNIX_PATH_MAX:
        raise base.child("supervisor").child("run_dir").error(
            f"worker socket paths under {run_dir} would reach {length} bytes, over the "
            f"{_UNIX_PATH_MAX}-byte limit of Unix socket paths; choose a shorter run_dir")


def locate_dirs(path: str | Path) -> tuple[Path, Path]:
    """(run_dir, log_dir) of a config that may have errors elsewhere, so `status`, `stop` and `logs`
    still work while a user is fixing it; documented defaults when a value cannot be read at all."""
    import os

    file = Path(path)
    base = file.resolve().parent
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        document = {}
    section = document.get("supervisor") if isinstance(document.get("supervisor"), dict) else {}
    found = []
    for key, default in (("run_dir", ".pysupervise/run"), ("log_dir", ".pysupervise/logs")):
        raw = section.get(key)
        found.append((base / os.path.expanduser(raw if isinstance(raw, str) and raw else default)).resolve())
    return found[0], found[1]
