"""The repo's own supervisor.toml, run for a test: fresh short run_dir and log_dir, absolute app dirs, optional Redis."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Collection, Mapping

from tests.support.site import REPO, Site

REPO_CONFIG = REPO / "supervisor.toml"


def repo_config_text(run_dir: Path, log_dir: Path, *, bus: str | None = None, cache: str | None = None,
                     workers: int | None = None, env: Mapping[str, Mapping[str, str]] | None = None,
                     apps: Collection[str] | None = None) -> str:
    """The repo's config with its paths moved for a test.

    App `dir`s are relative to the config file's folder, so they become absolute; `bus`/`cache` go to
    [services]; `workers` replaces "auto" (so a test sees the same worker count on any machine);
    `env` adds variables per app name; `apps` keeps only the apps it names (a site that runs some roles).
    """
    document: dict[str, Any] = tomllib.loads(REPO_CONFIG.read_text(encoding="utf-8"))
    if apps is not None:
        document["apps"] = {name: app for name, app in document["apps"].items() if name in apps}
    document.setdefault("supervisor", {}).update(run_dir=str(run_dir), log_dir=str(log_dir))
    for name, app in document.get("apps", {}).items():
        app["dir"] = str((REPO / app.get("dir", ".")).resolve())
        if workers is not None and app.get("workers", "auto") == "auto":
            app["workers"] = workers
        if env and name in env:
            app["env"] = {**app.get("env", {}), **env[name]}
    services = document.setdefault("services", {})
    if bus is not None:
        services["bus"] = bus
    if cache is not None:
        services["cache"] = cache
    if not services:
        del document["services"]
    return toml_text(document)


def start_repo_site(workdir: Path, timeout: float = 60, **options: Any) -> Site:
    """Start `pysupervise start` on a copy of the repo's config (options: see repo_config_text). The caller stops it."""
    site = Site(workdir, "[supervisor]\n")  # Site picks the short run_dir; the real text follows
    site.write_config(repo_config_text(site.run_dir, site.log_dir, **options))
    try:
        return site.start(timeout=timeout)
    except BaseException:
        site.stop()
        raise


# -- a TOML writer for what supervisor.toml uses: tables of strings, numbers, booleans, lists, inline tables --

def toml_text(document: Mapping[str, Any]) -> str:
    """A supervisor.toml document (as tomllib reads it) written back as TOML."""
    lines: list[str] = []
    for section, table in document.items():
        if section == "apps":
            for name, app in table.items():
                lines += [f"[apps.{_key(name)}]", *_pairs(app), ""]
        else:
            lines += [f"[{_key(section)}]", *_pairs(table), ""]
    return "\n".join(lines)


def _pairs(table: Mapping[str, Any]) -> list[str]:
    return [f"{_key(key)} = {_value(value)}" for key, value in table.items()]


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() and key.isascii() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
