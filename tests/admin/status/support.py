"""Shared by the status tests: a two-app site of tests/apps/web.py, and readers for its pages and metrics."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.support.site import TEST_APPS, Site

# Two apps of the same test app; "beta" gets no traffic but what a test sends it (a quiet app).
# Their code is a copy in `app_dir`, so a test can break one of them; nothing is watched, so only
# `pysupervise reload` starts a new generation.
TWO_APPS = """
[apps.alpha]
app = "web:create_app"
dir = "{app_dir}"
route = "/alpha"
workers = 2
watch = ["nothing-is-watched/*.py"]
env = {{ PREFIX = "/alpha" }}

[apps.beta]
app = "web:create_app"
dir = "{app_dir}"
route = "/beta"
workers = 2
watch = ["nothing-is-watched/*.py"]
env = {{ PREFIX = "/beta" }}
"""

_ROW_PID = re.compile(r'<tr data-pid="(\d+)"')


def two_apps(app_dir: Path, extra: str = "") -> str:
    """The config text; the test app is copied into `app_dir` first."""
    app_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(TEST_APPS / "web.py", app_dir / "web.py")
    return TWO_APPS.format(app_dir=app_dir) + extra


def worker_pids(site: Site, app: str) -> set[int]:
    """The app's worker pids as the master reports them to the CLI (not through the page under test)."""
    return {w["pid"] for w in site.app_status(app)["workers"] if w["pid"]}


def row_pids(html: str) -> set[int]:
    """The pids of the worker rows of a status page's HTML."""
    return {int(pid) for pid in _ROW_PID.findall(html)}


def metric_samples(site: Site) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/_pysupervise/metrics parsed by Prometheus' own parser: (sample name, sorted labels) → value.

    Every sample must carry the site's one `host` label ([supervisor] host_id); it is left out of the keys."""
    response = site.get("/_pysupervise/metrics")
    assert response.status == 200, response.body
    samples = {}
    hosts = set()
    for family in text_string_to_metric_families(response.body.decode()):
        for sample in family.samples:
            labels = dict(sample.labels)
            hosts.add(labels.pop("host", None))
            samples[(sample.name, tuple(sorted(labels.items())))] = sample.value
    assert len(hosts) == 1 and None not in hosts, f"every sample carries one host label, got {hosts}"
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def connect_from(source: str, host: str, port: int) -> http.client.HTTPConnection:
    """An HTTP connection whose TCP peer address, as the proxy sees it, is `source`."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.sock = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
    return conn


def get_from(source: str, site: Site, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    conn = connect_from(source, site.host, site.port)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def first_sse_event(site: Site, path: str) -> dict:
    """The first data event of an admin event stream, as JSON."""
    conn = http.client.HTTPConnection(site.host, site.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
        while True:
            line = response.readline()
            if not line:
                raise AssertionError("the event stream ended before its first event")
            if line.startswith(b"data: "):
                return json.loads(line[6:])
    finally:
        conn.close()
