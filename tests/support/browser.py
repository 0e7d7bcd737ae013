"""A real browser for tests: Playwright driving Debian's chromium (/usr/bin/chromium), headless."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
# No background traffic: this machine has no network beyond loopback, and Chromium's calls home
# would otherwise fail noisily (see the environment notes).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture
def browser() -> Iterator["object"]:
    """A headless chromium per test.

    Not session-wide: Playwright's sync API keeps its event loop marked as running while it is
    open, which would break every pytest-asyncio test that runs after it in the same process.
    """
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/test.sh installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser) -> Iterator["object"]:
    """A fresh browser context (own cookies) and page per test."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()
