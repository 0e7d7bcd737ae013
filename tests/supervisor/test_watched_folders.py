"""The reload watcher watches each folder of an app's tree on its own (issue 18): no folder of a venv, node_modules
or static folder costs an inotify watch (nor an event per file the proxy opens there), and a folder that appears
while the site runs is watched from then on, with what it brought counted as saved."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.poll import wait_until
from tests.support.site import Site

APP_SOURCE = '''
from aiohttp import web


async def hello(request):
    return web.Response(text="hello")


def create_app():
    app = web.Application()
    app.router.add_get("/hello", hello)
    return app
'''


@pytest.fixture
def app_dir(tmp_path) -> Path:
    folder = tmp_path / "app"
    (folder / "public").mkdir(parents=True)
    (folder / "live_app.py").write_text(APP_SOURCE)
    return folder


def config(folder: Path) -> str:
    return f"""
[apps.live]
app = "live_app:create_app"
dir = "{folder}"
route = "/"
workers = 1
graceful_timeout = 2
static = {{ "/static" = "public" }}
"""


def watched_inodes(pid: int) -> set[tuple[int, int]]:
    """(device, inode) of every folder or file a process holds an inotify watch on, from /proc/<pid>/fdinfo."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:inotify":
                continue
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:  # closed meanwhile
            continue
        for line in info.splitlines():
            if line.startswith("inotify wd:"):
                fields = dict(part.split(":", 1) for part in line.split()[1:])
                device = int(fields["sdev"], 16)
                # fdinfo gives the kernel's device number: major in the bits above 20, minor below.
                found.add((os.makedev(device >> 20, device & 0xFFFFF), int(fields["ino"], 16)))
    return found


def identity(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_dev, info.st_ino


def generation(site: Site) -> int | None:
    return site.app_status("live")["generation"]


def reloads(site: Site) -> list[str]:
    """The reasons of the reloads that saves started."""
    return [line for line in (site.log_dir / "live" / "events.log").read_text().splitlines()
            if "reload-started" in line and "file changed" in line]


def test_no_watch_falls_on_a_venv_node_modules_or_static_folder_and_their_saves_reload_nothing(make_site, app_dir):
    venv = [app_dir / ".venv" / "lib" / "python3" / "site-packages" / f"package{n}" / "sub" for n in range(20)]
    modules = [app_dir / "node_modules" / f"module{n}" / "dist" for n in range(10)]
    static = [app_dir / "public" / "css", app_dir / "public" / "img" / "icons"]
    code = [app_dir / "views" / "admin"]
    for folder in venv + modules + static + code:
        folder.mkdir(parents=True, exist_ok=True)
    (app_dir / "public" / "css" / "site.css").write_text("body { color: red }")
    site = make_site(config(app_dir))

    watched = watched_inodes(site.process.pid)
    for folder in [app_dir, app_dir / "views", app_dir / "views" / "admin"]:
        assert identity(folder) in watched, folder
    left_out = [p for f in venv + modules + static for p in [f, *f.parents] if app_dir in p.parents]
    assert not [folder for folder in left_out if identity(folder) in watched]
    assert len(watched) < 10, watched  # the app's three folders and the config's; not its 90 others

    # The proxy serves the static folder from the disk as it is; a save there, or in the venv, is no reload.
    assert site.get("/static/css/site.css").text == "body { color: red }"
    (app_dir / "public" / "css" / "generated.py").write_text("X = 1\n")
    (venv[0] / "module.py").write_text("X = 1\n")
    (app_dir / "views" / "admin" / "page.py").write_text("X = 1\n")
    site.wait_for(lambda: generation(site) == 2, 30, "the save in views/admin to reload the app")
    assert len(reloads(site)) == 1 and "views/admin/page.py" in reloads(site)[0], reloads(site)


def test_a_folder_that_appears_is_watched_and_one_moved_in_whole_reloads_the_app(make_site, app_dir, tmp_path):
    site = make_site(config(app_dir))

    (app_dir / "package" / "inner").mkdir(parents=True)
    wait_until(lambda: identity(app_dir / "package" / "inner") in watched_inodes(site.process.pid), 10,
               "the new folder to be watched")
    (app_dir / "package" / "inner" / "module.py").write_text("X = 1\n")
    site.wait_for(lambda: generation(site) == 2, 30, "a save in the new folder to reload the app")

    # A deploy that renames a finished folder into place: its files were written before any watch could see them.
    staged = tmp_path / "staged" / "plugin"
    (staged / "parts").mkdir(parents=True)
    (staged / "parts" / "plugin.py").write_text("X = 1\n")
    os.rename(staged, app_dir / "plugin")
    site.wait_for(lambda: generation(site) == 3, 30, "the folder moved in to reload the app")
    assert "plugin/parts/plugin.py" in reloads(site)[-1], reloads(site)
    assert identity(app_dir / "plugin" / "parts") in watched_inodes(site.process.pid)
