"""What a re-read supervisor.toml changes: apps to add, remove or reload, and settings that need a restart."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from pysupervise.config import AppConfig, Config

# Sections the running master can take as they are: new proxy settings apply to new connections.
_LIVE_SECTIONS = {"proxy", "apps", "logs", "file"}


@dataclass(frozen=True)
class ConfigChanges:
    added: tuple[AppConfig, ...]
    removed: tuple[str, ...]
    changed: tuple[AppConfig, ...]
    # Top-level sections whose new values only a restart of the master applies (listen, run_dir, ...).
    need_restart: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.need_restart)


def compare(old: Config, new: Config) -> ConfigChanges:
    old_apps = {a.name: a for a in old.apps}
    new_apps = {a.name: a for a in new.apps}
    return ConfigChanges(
        added=tuple(a for name, a in new_apps.items() if name not in old_apps),
        removed=tuple(name for name in old_apps if name not in new_apps),
        changed=tuple(a for name, a in new_apps.items() if name in old_apps and _runs(old_apps[name]) != _runs(a)),
        need_restart=tuple(f.name for f in fields(Config)
                           if f.name not in _LIVE_SECTIONS and getattr(old, f.name) != getattr(new, f.name)),
    )


def _runs(app: AppConfig) -> AppConfig:
    """What the app's own workers run: its `staging` table is NAME~staging's business (an app of its own here),
    so a new staging route or folder does not reload production."""
    return replace(app, staging=None)
