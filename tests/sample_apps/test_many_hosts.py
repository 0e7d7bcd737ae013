"""wazstagram on several hosts sharing one Redis: pictures load on a host without the simulator."""

from __future__ import annotations

from pathlib import Path

from tests.support.repo_site import start_repo_site
from tests.support.site import Site

WAZSTAGRAM = {"frontend", "backend", "instagram"}
FAST_SIMULATOR = {"instagram": {"SIM_INTERVAL": "0.3"}}
PICTURES = 30_000  # ms for pictures to reach a page (they flow within seconds of the start)


def start_site(workdir: Path, **options) -> Site:
    workdir.mkdir()
    return start_repo_site(workdir, **options)


def test_a_site_without_the_simulator_shows_pictures_whose_images_load(redis_server, tmp_path, page):
    # Host A runs every wazstagram role; host B only a frontend. Both share one Redis, as behind a load balancer.
    redis_server.flush()
    host_a = start_site(tmp_path / "a", workers=1, apps=WAZSTAGRAM, bus=redis_server.url, env=FAST_SIMULATOR)
    try:
        host_b = start_site(tmp_path / "b", workers=1, apps={"frontend"}, bus=redis_server.url,
                            env={"frontend": {"MEDIA_ORIGIN": host_a.url}})
        try:
            page.goto(host_b.url + "/")
            page.wait_for_function("document.querySelectorAll('#grid img').length >= 3", timeout=PICTURES)
            # Every image the browser shows came from host B, and loaded.
            page.wait_for_function("[...document.querySelectorAll('#grid img')].every(i => i.complete)", timeout=PICTURES)
            loaded = page.eval_on_selector_all("#grid img", "images => images.map(i => [i.src, i.naturalWidth])")
            assert all(src.startswith(host_b.url + "/media/") and width > 0 for src, width in loaded), loaded
            response = page.request.get(loaded[0][0])
            assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
            assert response.body().startswith(b"<svg")
        finally:
            host_b.stop()
    finally:
        host_a.stop()

