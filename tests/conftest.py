"""Shared fixtures: `make_site` starts real pysupervise masters and always stops them."""

from __future__ import annotations

import shutil
import tempfile
from typing import Callable, Iterator

import pytest

from tests.support.browser import browser, page  # noqa: F401  (fixtures for browser tests)
from tests.support.site import Site


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """A short tmp_path base, fresh per run: sites keep their worker sockets under tmp_path, and AF_UNIX paths
    stop at 107 bytes. pytest's own base (/tmp/pytest-of-<user>/pytest-<n>/, plus popen-gw<n>/ per
    pytest-xdist process) left some tests a byte or two short. The controlling process picks it (xdist's
    processes get theirs under it) and removes it at the end; --basetemp still wins."""
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        base = tempfile.mkdtemp(prefix="pst.", dir="/tmp")
        config.option.basetemp = base
        config.add_cleanup(lambda: shutil.rmtree(base, ignore_errors=True))


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
