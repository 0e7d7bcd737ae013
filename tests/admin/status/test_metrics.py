"""<index_path>/metrics through a real master: Prometheus' parser reads it, and its counters follow the traffic."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pysupervise.admin.metrics import render_metrics
from tests.admin.status.support import metric_samples, two_apps, value, worker_pids
from tests.support.poll import wait_until

DURATION = "pysupervise_request_duration_seconds"


def test_counters_histogram_bytes_and_reloads_follow_the_traffic(make_site, tmp_path):
    app_dir = tmp_path / "app"
    site = make_site(two_apps(app_dir))
    response = site.get("/_pysupervise/metrics")
    assert response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f for f in text_string_to_metric_families(response.body.decode())}
    assert families["pysupervise_requests"].type == "counter"
    assert families[DURATION].type == "histogram"
    assert families["pysupervise_worker_resident_memory_bytes"].type == "gauge"
    text = response.body.decode()
    for name in families:
        assert f"# HELP {name}" in text and f"# TYPE {name}" in text

    before = metric_samples(site)
    requests = 7
    for _ in range(requests):
        assert site.get("/beta/whoami").status == 200
    body = b"x" * 5000
    assert site.request("POST", "/beta/echo", body=body).body == body
    served = requests + 1

    # The counters move once the proxy has finished each exchange; the app gets no other traffic.
    after = wait_until(lambda: (lambda s: s if value(s, "pysupervise_requests_total", app="beta", code="200")
                                >= value(before, "pysupervise_requests_total", app="beta", code="200") + served
                                else None)(metric_samples(site)), 10, "beta's requests in the metrics")
    grew = {name: value(after, name, app="beta") - value(before, name, app="beta")
            for name in (f"{DURATION}_count", f"{DURATION}_sum", "pysupervise_received_bytes_total",
                         "pysupervise_sent_bytes_total")}
    assert value(after, "pysupervise_requests_total", app="beta", code="200") \
        - value(before, "pysupervise_requests_total", app="beta", code="200") == served
    assert grew[f"{DURATION}_count"] == served and grew[f"{DURATION}_sum"] > 0
    assert grew["pysupervise_received_bytes_total"] == len(body)
    assert grew["pysupervise_sent_bytes_total"] >= len(body)
    assert value(after, f"{DURATION}_bucket", app="beta", le="+Inf") == value(after, f"{DURATION}_count", app="beta")
    buckets = sorted((float(dict(labels)["le"]), count) for (name, labels), count in after.items()
                     if name == f"{DURATION}_bucket" and dict(labels)["app"] == "beta")
    assert [count for _, count in buckets] == sorted(count for _, count in buckets)  # cumulative

    assert value(after, "pysupervise_workers", app="beta", state="ready") == 2
    rss = {int(dict(labels)["pid"]): v for (name, labels), v in after.items()
           if name == "pysupervise_worker_resident_memory_bytes" and dict(labels)["app"] == "beta"}
    assert set(rss) == worker_pids(site, "beta") and all(v > 1_000_000 for v in rss.values())

    ok = value(after, "pysupervise_reloads_total", app="beta", result="ok")
    reload = site.cli("reload", "beta")
    assert reload.returncode == 0, reload.stdout + reload.stderr
    reloaded = metric_samples(site)
    assert value(reloaded, "pysupervise_reloads_total", app="beta", result="ok") == ok + 1
    assert value(reloaded, "pysupervise_app_generation", app="beta") == 2

    # A reload that fails counts as failed; the old generation keeps serving and the status page says why.
    (app_dir / "web.py").write_text("raise ImportError('deliberately broken for the status page')\n")
    assert site.cli("reload", "beta").returncode == 1
    failed = metric_samples(site)
    assert value(failed, "pysupervise_reloads_total", app="beta", result="failed") == 1
    assert value(failed, "pysupervise_reloads_total", app="beta", result="ok") == ok + 1
    assert value(failed, "pysupervise_app_failed", app="beta") == 0
    last_reload = site.get("/beta/status?format=json").json()["last_reload"]
    assert last_reload["ok"] is False and last_reload["generation"] == 3
    page = site.get("/beta/status").body.decode()
    assert "The last reload failed" in page and "exited during startup" in page


def test_label_values_and_help_text_are_escaped_for_the_parser():
    awkward = 'we"ird\\app\nname'
    status = {"app": awkward, "status_counts": {"200": 3}, "duration_buckets": [0.1, 1.0],
              "duration_counts": [1, 1, 1], "duration_sum": 2.5, "workers": [
                  {"generation": 1, "slot": 0, "pid": 42, "state": "ready", "rss": 1024}]}
    families = {f.name: f for f in text_string_to_metric_families(render_metrics([status]))}
    assert [(s.labels, s.value) for s in families["pysupervise_requests"].samples] == \
        [({"app": awkward, "code": "200"}, 3)]
    buckets = [(s.labels["le"], s.value) for s in families[DURATION].samples if s.name.endswith("_bucket")]
    assert buckets == [("0.1", 1), ("1.0", 2), ("+Inf", 3)]
    memory = families["pysupervise_worker_resident_memory_bytes"].samples[0]
    assert memory.labels == {"app": awkward, "generation": "1", "slot": "0", "pid": "42"} and memory.value == 1024
