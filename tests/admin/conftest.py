"""Fixtures for the admin tests: a site of real log folders served by the real admin app."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.admin.support import TOKEN, AdminThread, FolderSite, admin_settings, log_settings


@pytest.fixture
def site(tmp_path) -> FolderSite:
    folder_site = FolderSite(tmp_path / "logs", log_settings())
    folder_site.add_app("web")
    folder_site.add_app("other")
    return folder_site


@pytest.fixture
def admin(site) -> Iterator[AdminThread]:
    server = AdminThread(site, admin_settings(), TOKEN)
    try:
        yield server
    finally:
        server.stop()
