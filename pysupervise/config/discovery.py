"""Which supervisor.toml a command means when no `-c` names one: the nearest from the current folder up, as git
finds its repository."""

from __future__ import annotations

from pathlib import Path

from pysupervise.config.errors import ConfigError

CONFIG_NAME = "supervisor.toml"


def find_config(start: Path | None = None) -> Path:
    """`<folder>/supervisor.toml` for the first folder from `start` (default: the current one) up to the root
    that has one; raises ConfigError naming the folder the search began in."""
    first = Path.cwd() if start is None else start.absolute()
    for folder in (first, *first.parents):
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(CONFIG_NAME, "", f"none in {first} or any folder above it (create one there, or pass -c FILE)")
