"""`python = ...` per app: resolved against the app's dir (or PATH), never through symlinks; errors name the key."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from pysupervise.config import ConfigError, load_config


def config_with(tmp_path: Path, python: str, dir: str = ".") -> Path:
    path = tmp_path / "supervisor.toml"
    path.write_text(textwrap.dedent(f"""
        [apps.site]
        app = "m:app"
        dir = "{dir}"
        python = "{python}"
    """))
    return path


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_relative_path_starts_at_the_apps_dir_and_keeps_the_venv_link(tmp_path):
    real = executable(tmp_path / "base" / "python3")
    venv_bin = tmp_path / "app" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    # As `python -m venv` makes it: a link whose own path, not its target, tells Python which venv it runs.
    (venv_bin / "python").symlink_to(real)
    app = load_config(config_with(tmp_path, ".venv/bin/python", dir="app")).apps[0]
    assert app.python == str(venv_bin / "python")


def test_absolute_path_and_a_name_on_path(tmp_path, monkeypatch):
    python = executable(tmp_path / "bin" / "python3.99")
    assert load_config(config_with(tmp_path, str(python))).apps[0].python == str(python)
    monkeypatch.setenv("PATH", f"{python.parent}{os.pathsep}{os.environ['PATH']}")
    assert load_config(config_with(tmp_path, "python3.99")).apps[0].python == str(python)


def test_no_python_key_means_the_masters_own(tmp_path):
    path = tmp_path / "supervisor.toml"
    path.write_text('[apps.site]\napp = "m:app"\n')
    assert load_config(path).apps[0].python is None


@pytest.mark.parametrize("value, problem", [
    (".venv/bin/python", "does not exist (relative paths start at the app's dir"),
    ("no-such-python-anywhere", "no program named 'no-such-python-anywhere' on PATH"),
    ("", "expected the path of a Python interpreter"),
])
def test_a_missing_interpreter_is_an_error_naming_file_and_key(tmp_path, value, problem):
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(tmp_path, value))
    message = str(caught.value)
    assert "supervisor.toml" in message and "apps.site.python" in message and problem in message, message


def test_a_file_that_cannot_be_run_is_an_error(tmp_path):
    (tmp_path / "python").write_text("not a program")
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(tmp_path, "./python"))
    assert "apps.site.python" in str(caught.value) and "is not executable" in str(caught.value)
