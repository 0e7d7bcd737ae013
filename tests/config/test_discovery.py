"""Which supervisor.toml a command uses without -c: the nearest from the current folder up, as git finds its
repository; relative paths in it stay relative to its own folder (issue 16 §6)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

from pysupervise.config import ConfigError, find_config
from pysupervise.logs.app_logs import AppLogs
from tests.admin.support import log_settings
from tests.logs.printed import parse


def test_the_nearest_config_from_the_folder_up_wins(tmp_path):
    (tmp_path / "supervisor.toml").write_text("")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_config(nested) == tmp_path / "supervisor.toml"
    (tmp_path / "a" / "supervisor.toml").mkdir()  # a folder of that name is not a config
    assert find_config(nested) == tmp_path / "supervisor.toml"
    (nested / "supervisor.toml").write_text("")
    assert find_config(nested) == nested / "supervisor.toml"


def test_none_found_names_the_folder_the_search_began_in(tmp_path):
    if any((folder / "supervisor.toml").is_file() for folder in tmp_path.parents):
        pytest.skip("a folder above the test's has a supervisor.toml")
    with pytest.raises(ConfigError, match=f"none in {tmp_path} or any folder above it"):
        find_config(tmp_path)


def test_a_command_with_no_config_from_here_up_is_a_usage_error(tmp_path):
    if any((folder / "supervisor.toml").is_file() for folder in tmp_path.parents):
        pytest.skip("a folder above the test's has a supervisor.toml")
    result = subprocess.run([sys.executable, "-m", "pysupervise", "status"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert f"pysupervise: supervisor.toml: none in {tmp_path} or any folder above it" in result.stderr


def test_logs_from_a_subfolder_read_the_log_dir_relative_to_the_config(tmp_path):
    run_dir = tempfile.mkdtemp(prefix="ps-", dir="/tmp")
    try:
        (tmp_path / "supervisor.toml").write_text(textwrap.dedent(f"""
            [supervisor]
            run_dir = "{run_dir}"
            log_dir = "var/logs"

            [apps.web]
            app = "web:create_app"
        """))
        AppLogs(tmp_path / "var" / "logs" / "web", log_settings()).open_stream(0, 42, "stdout", 1).write(b"hello\n")
        inside = tmp_path / "src" / "pkg"
        inside.mkdir(parents=True)
        result = subprocess.run([sys.executable, "-m", "pysupervise", "logs", "web"], cwd=inside,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert f"pysupervise: using {tmp_path / 'supervisor.toml'}" in result.stderr
        line = parse(result.stdout.strip())
        assert (line.text, line.pid, line.slot) == ("hello", 42, 0)
        explicit = subprocess.run([sys.executable, "-m", "pysupervise", "logs", "web", "-c", "../../supervisor.toml"],
                                  cwd=inside, capture_output=True, text=True, timeout=60)
        assert explicit.returncode == 0 and "using" not in explicit.stderr and "hello" in explicit.stdout
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
