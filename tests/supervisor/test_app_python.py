"""`python = ...`: an app's workers run under its own venv's interpreter, with its own Flask (issue 16, point 4).

The venv is real (`python -m venv`, no system site-packages, Flask 2.3.3 and gunicorn from pip), built once and
cached in .pysupervise-test-cache/; pysupervise itself is never installed into it.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.venv import cached_venv

VENV_FLASK = "2.3.3"


@pytest.fixture(scope="module")
def venv() -> Path:
    return cached_venv((f"flask=={VENV_FLASK}", "gunicorn"))


def served_by(site, path: str = "/") -> dict:
    response = site.get(path)
    assert response.status == 200, response.text
    return response.json()


def test_app_workers_run_under_the_apps_venv_with_its_flask(make_site, venv):
    assert version("flask").startswith("3."), "the master's own Flask must differ from the venv's"
    site = make_site(f"""
        [apps.site]
        app = "venv_flask:app"
        dir = "{{apps}}"
        python = "{venv}/bin/python"
        workers = 2
    """)
    body = served_by(site)
    assert body["flask"] == VENV_FLASK and body["prefix"] == str(venv) and body["virtual_env"] == str(venv)
    assert body["executable"] == str(venv / "bin" / "python")
    # pysupervise, and the runtime's uvicorn the venv lacks, come from the master's install through run_dir's links.
    assert body["pysupervise_file"].startswith(str(site.run_dir / "_worker_runtime" / "ours"))
    assert body["uvicorn_file"].startswith(str(site.run_dir / "_worker_runtime"))
    assert body["bus_client"] == "pysupervise.bus"
    reload = site.cli("reload", "site")
    assert reload.returncode == 0 and "now serving generation 2" in reload.stdout, reload.stdout + reload.stderr
    assert served_by(site)["flask"] == VENV_FLASK


def test_a_command_app_finds_the_venvs_programs_first_on_path(make_site, venv):
    # `gunicorn` is the venv's (the master's environment has one too, which would serve Flask 3).
    site = make_site(f"""
        [apps.site]
        command = "gunicorn --bind unix:{{socket}} venv_flask:app"
        dir = "{{apps}}"
        python = "{venv}/bin/python"
        workers = 1
    """)
    body = served_by(site)
    assert body["flask"] == VENV_FLASK and body["prefix"] == str(venv) and body["virtual_env"] == str(venv)
    assert body["socket"] == str(site.run_dir / "site" / "1-0.sock")


def test_a_too_old_interpreter_fails_the_app_with_a_clear_message(make_site, tmp_path):
    # Only Python 3.11 exists on the test machines: this script answers the version question as Python 3.8 would.
    old = tmp_path / "python3.8"
    old.write_text("#!/bin/sh\necho '" + json.dumps({"version": [3, 8, 10], "cache_tag": "cpython-38",
                                                      "soabi": "cpython-38-x86_64-linux-gnu",
                                                      "prefix": "/usr"}) + "'\n")
    old.chmod(0o755)
    site = make_site(f"""
        [apps.old]
        app = "web:create_app"
        dir = "{{apps}}"
        route = "/old"
        python = "{old}"
        workers = 1

        [apps.fine]
        app = "web:create_app"
        dir = "{{apps}}"
        route = "/fine"
        workers = 1
        env = {{ PREFIX = "/fine" }}
    """)
    expected = f"python = '{old}' is Python 3.8.10; pysupervise workers need 3.11 or newer"
    site.wait_for(lambda: expected in site.output_text(), 20, "the start failure on the master's output")
    assert f"app 'old' failed to start: {expected}" in site.output_text()
    status = site.app_status("old")
    assert status["state"] == "failed" and expected in json.dumps(status)
    assert expected in (site.log_dir / "old" / "events.log").read_text()
    assert site.get("/fine/whoami").status == 200  # the other app is not held back
