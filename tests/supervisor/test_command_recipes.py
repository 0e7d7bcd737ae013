"""The one-line `command` recipes of README.md, run with the real servers through a real master.

Each must pass the readiness probe, serve a request, and stop by itself on SIGTERM, at a reload's drain and at
the master's stop, without a SIGKILL. `{socket}` and `$PORT` are put in the arguments by pysupervise, no shell.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from pysupervise.config import load_config
from pysupervise.supervisor.spawn import spawn_spec

# (name, the command exactly as README.md shows it, the program that must be installed)
RECIPES = [
    ("gunicorn", "gunicorn --bind unix:{socket} recipes:wsgi", "gunicorn"),
    ("uvicorn", "uvicorn --uds {socket} recipes:asgi", "uvicorn"),
    ("hypercorn", "hypercorn --bind unix:{socket} recipes:asgi", "hypercorn"),
    ("granian", "granian --interface asgi --uds {socket} recipes:asgi", "granian"),
    ("daphne", "daphne -u {socket} recipes:asgi", "daphne"),
    ("http.server", "python stdlib_server.py {socket}", None),
    # What users write first; pysupervise substitutes $PORT itself, so no file named "$PORT" appears.
    ("uvicorn $PORT", "uvicorn --uds $PORT recipes:asgi", "uvicorn"),
]


def recipe_config(command: str, name: str) -> str:
    # `python` in a recipe is whichever python is first on PATH: here, the one running the tests.
    command = command.replace("python ", f"{sys.executable} ", 1) if command.startswith("python ") else command
    return f"""
        [apps.web]
        command = "{command}"
        dir = "{{apps}}"
        workers = 1
        graceful_timeout = 10
        env = {{ RECIPE = "{name}" }}
    """


# Ways a server ends by itself after SIGTERM; uvicorn re-raises the signal once its graceful shutdown is done.
# Never "killed by SIGKILL": that would mean it ignored SIGTERM until the grace period ran out.
BY_ITSELF = {"exit code 0", "killed by SIGTERM"}


def exits(site, generation: int) -> list[str]:
    events = (site.log_dir / "web" / "events.log").read_text()
    return re.findall(rf"worker-exited generation={generation} .*status='([^']*)'", events)


@pytest.mark.parametrize("name, command, program", RECIPES, ids=[r[0] for r in RECIPES])
def test_recipe_serves_reloads_and_stops_gracefully(make_site, name, command, program):
    if program is not None and shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (pip install -e '.[test]')")
    site = make_site(recipe_config(command, name))
    first = site.get("/hello?x=1")
    assert first.status == 200, first.text
    body = first.json()
    assert body["recipe"] == name and body["path"] == "/hello"
    assert body["socket"] == str(site.run_dir / "web" / "1-0.sock")
    assert not (site.workdir / "$PORT").exists() and not list(site.run_dir.rglob("*PORT*"))

    reload = site.cli("reload", "web")
    assert reload.returncode == 0 and "now serving generation 2" in reload.stdout, reload.stdout + reload.stderr
    assert site.get("/").json()["socket"] == str(site.run_dir / "web" / "2-0.sock")
    site.wait_for(lambda: exits(site, 1), 20, "generation 1 to exit after its drain")
    assert len(exits(site, 1)) == 1 and set(exits(site, 1)) <= BY_ITSELF, exits(site, 1)

    site.stop()
    assert site.process.returncode == 0, site.output_text()
    assert len(exits(site, 2)) == 1 and set(exits(site, 2)) <= BY_ITSELF, exits(site, 2)


def test_only_the_exact_socket_tokens_are_replaced(tmp_path):
    (tmp_path / "supervisor.toml").write_text(
        """[apps.a]\ncommand = ['srv', '--uds', '{socket}', 'unix:$PORT', '${PORT}.x', '$PYSUPERVISE_SOCKET',"""
        """ '$PORTS', '$PORT_X', '{"socket": 1}', '{sockets}', '{{socket}}', '$$PORT']\n""")
    app = load_config(tmp_path / "supervisor.toml").apps[0]
    spec = spawn_spec(app, 3, 1, Path("/run/a/3-1.sock"), {})
    assert spec.argv == ("srv", "--uds", "/run/a/3-1.sock", "unix:/run/a/3-1.sock", "/run/a/3-1.sock.x",
                         "/run/a/3-1.sock", "$PORTS", "$PORT_X", '{"socket": 1}', "{sockets}", "{/run/a/3-1.sock}",
                         "$/run/a/3-1.sock")
    assert spec.env["PORT"] == spec.env["PYSUPERVISE_SOCKET"] == "/run/a/3-1.sock"
