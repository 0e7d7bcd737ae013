"""Shared fixtures: `make_site` starts real pysupervise masters and always stops them."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from tests.support.browser import browser, page  # noqa: F401  (fixtures for browser tests)
from tests.support.site import Site


@pytest.fixture
def make_site(tmp_path) -> Iterator[Callable[..., Site]]:
    sites: list[Site] = []

    def make(config_text: str, start: bool = True, **start_args) -> Site:
        workdir = tmp_path / f"site{len(sites)}"
        workdir.mkdir()
        site = Site(workdir, config_text)
        sites.append(site)
        return site.start(**start_args) if start else site

    yield make
    for site in sites:
        site.stop()
