"""Fixtures shared by the proxy's tests."""

from __future__ import annotations

import pytest

from tests.support.raw_http import RawConnection


@pytest.fixture
def conn(site):
    """A raw connection to the module's `site` (a module-scoped fixture of the test module), closed afterwards."""
    connection = RawConnection(site.port)
    yield connection
    connection.close()
