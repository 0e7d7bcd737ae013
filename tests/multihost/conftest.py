"""The `cluster` fixture: docs/scale-out.md's three hosts, Redis and nginx, built once for the module."""

from __future__ import annotations

import shutil
from typing import Iterator

import pytest

from tests.multihost.cluster import Cluster, ClusterSettings
from tests.support.netns import missing_requirements
from tests.support.nginx import nginx_binary

# Pictures every 0.3 s instead of every second, so the test sees a few dozen in seconds.
SETTINGS = ClusterSettings(app_env={"instagram": {"SIM_INTERVAL": "0.3"}})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = missing_requirements()
    if reason is not None:
        pytest.skip(f"the multi-host test builds hosts in network namespaces: {reason}")
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (./scripts/test.sh installs it)")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed: run ./scripts/test.sh (it installs it) or "
                    "`apt-get install redis-server`", pytrace=False)
    cluster = Cluster(tmp_path_factory.mktemp("cluster"), SETTINGS)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()
