"""WSGI apps get `threads` handler threads per worker, and by default no more requests than that, so
the excess waits in the proxy's queue where status and metrics show it (issue 15 point 5)."""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import quote

from tests.support.site import Site


def app_config(extra: str) -> str:
    return f"""
[apps.held]
app = "held_wsgi:app"
dir = "{{apps}}"
workers = 1
{extra}
"""


class Clients:
    """Concurrent GETs, each on its own connection and thread; answers are kept by index."""

    def __init__(self, site: Site, path: str, count: int) -> None:
        self.answers: dict[int, dict] = {}
        self.errors: list[BaseException] = []
        self.threads = [threading.Thread(target=self._one, args=(site, path, i), daemon=True) for i in range(count)]
        for thread in self.threads:
            thread.start()

    def _one(self, site: Site, path: str, index: int) -> None:
        try:
            response = site.get(path, timeout=120)
            assert response.status == 200, (response.status, response.text)
            self.answers[index] = response.json()
        except BaseException as exc:  # reported by the test, not lost in a thread
            self.errors.append(exc)

    def finished(self) -> bool:
        return len(self.answers) + len(self.errors) == len(self.threads)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=120)
        assert not self.errors, self.errors


def test_thirty_threads_run_thirty_requests_at_once(make_site, tmp_path: Path):
    # Each request stays in the app until 30 have been there at once (or the test gives up and lets them
    # go): behind a 10-thread pool the 11th never starts, so this waits forever instead of finishing.
    site = make_site(app_config("threads = 30"))
    flag = tmp_path / "give-up"
    clients = Clients(site, f"/?until=30&flag={quote(str(flag))}", 30)
    try:
        site.wait_for(clients.finished, 45, "30 requests to be in the app's handlers at once")
    finally:
        flag.touch()
        clients.join()
    assert {answer["most_at_once"] for answer in clients.answers.values()} == {30}
    worker = site.app_status("held")["workers"][0]
    assert worker["max_concurrent_requests"] == 30  # "auto": the threads, as the runtime reported a WSGI app


def test_excess_requests_wait_in_the_proxys_queue(make_site, tmp_path: Path):
    # interface = "auto": the master learns from the worker's runtime that the app is WSGI.
    site = make_site(app_config("threads = 4"))
    flag = tmp_path / "release"
    clients = Clients(site, f"/?flag={quote(str(flag))}", 8)
    try:
        # Both levels at once (with two front processes, each reports its own a few times a second).
        status = site.wait_for(lambda: (s := site.app_status("held"))["queue_length"] == 4
                               and s["workers"][0]["in_flight"] == 4 and s, 30,
                               "4 of 8 requests to wait in the proxy's queue while 4 hold the worker's threads")
        assert status["workers"][0]["max_concurrent_requests"] == 4
    finally:
        flag.touch()
        clients.join()
    assert max(answer["most_at_once"] for answer in clients.answers.values()) == 4
    # Other front processes report their queues a few times a second.
    status = site.wait_for(lambda: (s := site.app_status("held"))["queue_length"] == 0 and s, 5, "the queue empty")
    assert status["queued_total"] >= 4


def test_explicit_max_concurrent_requests_wins(make_site, tmp_path: Path):
    site = make_site(app_config('interface = "wsgi"\nthreads = 3\nmax_concurrent_requests = 5'))
    flag = tmp_path / "release"
    clients = Clients(site, f"/?flag={quote(str(flag))}", 5)
    try:
        # 5 sent to the worker, 3 in its threads, 2 waiting inside it: what the user asked for.
        site.wait_for(lambda: site.app_status("held")["workers"][0]["in_flight"] == 5, 30,
                      "5 requests in flight at the worker")
        assert site.app_status("held")["queue_length"] == 0
    finally:
        flag.touch()
        clients.join()
    assert max(answer["most_at_once"] for answer in clients.answers.values()) == 3
