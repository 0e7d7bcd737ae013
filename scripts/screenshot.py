#!/usr/bin/env python3
"""Starts the default site (the repo's supervisor.toml, as the end-to-end tests do) and saves docs/frontend.png.

Usage: python3 scripts/screenshot.py [--out docs/frontend.png] [--pictures 24]
Needs Playwright and Debian's /usr/bin/chromium (./scripts/test.sh installs both).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere: tests.support is importable

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.repo_site import start_repo_site  # noqa: E402

VIEWPORT = {"width": 1200, "height": 760}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "frontend.png")
    parser.add_argument("--pictures", type=int, default=24, help="wait until this many pictures are shown")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    workdir = Path(tempfile.mkdtemp(prefix="ps-shot-"))
    site = start_repo_site(workdir)
    try:
        print(f"site running at {site.url}", flush=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(site.url + "/")
                # Enough pictures, every one of them loaded (not a grey box mid-download).
                page.wait_for_function(
                    f"""() => {{
                        const images = [...document.querySelectorAll('#grid img')];
                        return images.length >= {args.pictures} && images.every(i => i.complete && i.naturalWidth > 0);
                    }}""", timeout=90_000)
                # Show one caption, as a visitor hovering a picture sees it.
                page.locator("#grid figure").filter(has=page.locator(".caption:not(:empty)")).nth(1).hover()
                page.wait_for_timeout(400)  # the caption's fade-in; a picture, not a test
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out))
            finally:
                browser.close()
        print(f"saved {args.out}")
    finally:
        site.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
