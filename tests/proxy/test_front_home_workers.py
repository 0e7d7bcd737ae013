"""`[proxy] processes = 2`: each front sends its requests to a home worker of its own, and the master keeps the
workers evenly loaded: a front with more than its part of the traffic, or whose home worker holds requests that
stay long, sends the excess to the other worker (proxy/dispatcher.py, proxy/fronts/home_balance.py)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest

from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection
from tests.support.site import Site, running_site

CONFIG = """
[proxy]
processes = 2

[apps.one]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 2
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("homes"), CONFIG) as site:
        yield site


def home_balance(site: Site) -> dict[str, list[float]]:
    """App one's requests per second through each front, and the fraction each sends away from home."""
    return site.status()["proxy"]["home_balance"].get("one", {"requests_per_second": [], "sent_away": []})


def busy_and_even(site: Site) -> bool:
    balance = home_balance(site)
    return min(balance["requests_per_second"], default=0) > 20 and balance["sent_away"] == [0.0, 0.0]


def ask(conn: RawConnection) -> tuple[str, str]:
    """(the worker's slot, the front's request-id prefix) of one /whoami on a keep-alive connection."""
    conn.send(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
    status, headers, body = conn.read_response()
    assert status == 200, body
    return json.loads(body)["slot"], headers["x-request-id"][0].split("-")[0]


def one_connection_per_front(site: Site) -> list[RawConnection]:
    """Keep-alive connections until the kernel has put one in each front; the others are closed."""
    kept: dict[str, RawConnection] = {}
    for _ in range(100):
        conn = RawConnection(site.port)
        _slot, front = ask(conn)
        if front in kept:
            conn.close()
        else:
            kept[front] = conn
            if len(kept) == 2:
                return list(kept.values())
    raise AssertionError("100 connections all went to one front")


class Asking(threading.Thread):
    """Asks /whoami on each of `conns` in turn until stopped; `answers` holds (slot, front) of each."""

    def __init__(self, conns: list[RawConnection]) -> None:
        super().__init__(daemon=True)
        self.conns = conns
        self.answers: list[tuple[str, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for conn in self.conns:
                self.answers.append(ask(conn))

    def next_answers(self, site: Site, count: int) -> list[tuple[str, str]]:
        seen = len(self.answers)
        site.wait_for(lambda: len(self.answers) >= seen + count or None, 30, f"{count} more answers")
        return self.answers[seen:seen + count]

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(10)
        for conn in self.conns:
            conn.close()


def test_each_front_sends_its_requests_to_a_home_worker_of_its_own(site):
    asking = Asking(one_connection_per_front(site))  # the same traffic through each front
    asking.start()
    try:
        site.wait_for(lambda: busy_and_even(site), 20,
                      "both fronts busy and sending nothing away (the first connection's front had it all at first)")
        by_front: dict[str, Counter] = {}
        for slot, front in asking.next_answers(site, 300):
            by_front.setdefault(front, Counter())[slot] += 1
    finally:
        asking.stop()
    homes = set()
    for slots in by_front.values():
        home, count = slots.most_common(1)[0]
        # Without home workers the split is even; a loaded machine can delay a front's rate report enough for a
        # few requests to go away meanwhile.
        assert count >= 0.9 * sum(slots.values()), by_front
        homes.add(home)
    assert homes == {"0", "1"}, by_front


def test_one_busy_connection_on_one_front_is_shared_with_the_other_fronts_worker(site):
    asking = Asking([RawConnection(site.port)])
    asking.start()
    try:
        # All of the app's traffic comes through one front: it sends half of it away from home.
        site.wait_for(lambda: sorted(home_balance(site)["sent_away"]) == [0.0, 0.5] or None, 20,
                      "one front to send half its requests away")
        last = Counter(slot for slot, _front in asking.next_answers(site, 200))
    finally:
        asking.stop()
    assert set(last) == {"0", "1"} and min(last.values()) >= 60, last


def connections_on_front(site: Site, front: str, count: int) -> list[RawConnection]:
    """`count` keep-alive connections the kernel put in `front` (others are closed)."""
    kept: list[RawConnection] = []
    for _ in range(50 * count):
        conn = RawConnection(site.port)
        if ask(conn)[1] == front:
            kept.append(conn)
            if len(kept) == count:
                return kept
        else:
            conn.close()
    for conn in kept:
        conn.close()
    raise AssertionError(f"{50 * count} connections gave {len(kept)} of {count} in front {front}")


def test_requests_held_on_one_fronts_home_worker_send_that_fronts_next_requests_to_the_other_worker(site):
    conns = one_connection_per_front(site)
    _slot, loaded_front = ask(conns[0])
    # Eight requests that stay (a slow endpoint, long polls) come in through one front: its home worker takes them.
    holders = connections_on_front(site, loaded_front, 8)
    asking = Asking(conns)  # then the same light traffic through each front: equal rates, nothing to balance
    try:
        # Each front sends its requests home (earlier traffic, on one front, may have had one send some away).
        wait_until(lambda: home_balance(site)["sent_away"] == [0.0, 0.0] or None, 20, "nothing sent away",
                   diagnostics=lambda: str(home_balance(site)))
        for conn in holders:
            conn.send(b"GET /slow?seconds=50 HTTP/1.1\r\nHost: t\r\n\r\n")
        site.wait_for(lambda: sum(w["in_flight"] for w in site.app_status("one")["workers"]) == 8 or None, 15,
                      "the 8 requests in flight")
        held = {w["slot"]: w["in_flight"] for w in site.app_status("one")["workers"]}
        loaded = max(held, key=held.__getitem__)
        asking.start()
        # Its front now sends what it can to the other worker, as a least-busy choice among all would.
        wait_until(lambda: max(home_balance(site)["sent_away"]) >= 0.9 or None, 20,
                   "the loaded front to send its requests away", diagnostics=lambda: str(home_balance(site)))
        answers = [slot for slot, front in asking.next_answers(site, 200) if front == loaded_front]
    finally:
        asking.stop()
        for conn in holders:
            conn.reset()  # the proxy gives up their requests and slots
    assert held[loaded] >= 7, held  # its home worker (a late rate report may have sent one away)
    assert len(answers) >= 80 and Counter(answers)[str(loaded)] <= 0.2 * len(answers), (loaded, Counter(answers))
    # Once they are gone, its front comes home again.
    wait_until(lambda: home_balance(site)["sent_away"] == [0.0, 0.0] or None, 20,
               "nothing sent away once the held requests ended", diagnostics=lambda: str(home_balance(site)))


def test_a_front_whose_home_worker_is_blocked_sends_its_next_requests_to_the_other_worker_at_once(site):
    asker, other = one_connection_per_front(site)
    other.close()
    front = ask(asker)[1]
    blocker = connections_on_front(site, front, 1)[0]
    # Finding that connection made this front busy alone, and such a front sends half its requests away (the test
    # above): the blocking request would go home only half the time. Once the rates have fallen, nothing is sent
    # away, and the next answer comes from home.
    wait_until(lambda: home_balance(site)["sent_away"] == [0.0, 0.0] or None, 20, "nothing sent away",
               diagnostics=lambda: str(home_balance(site)))
    home = ask(asker)[0]
    try:
        # A handler that blocks its worker's event loop for 3 s (a CPU-bound request, a blocking call).
        blocker.send(b"POST /block?seconds=3 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        sent_at = time.monotonic()
        site.wait_for(lambda: next(w["in_flight"] for w in site.app_status("one")["workers"]
                                   if str(w["slot"]) == home) == 1 or None, 10, "the blocking request at home")
        # The rule under test is about time: a busier home worker that has answered none of the front's requests
        # for stuck_after (0.02 s) is passed over. Its precondition is that much time since the block began.
        time.sleep(max(0.0, sent_at + 0.1 - time.monotonic()))
        # Only the other worker can answer while home is blocked: answers from it were not sent home.
        answers = [ask(asker) for _ in range(5)]
        assert [slot for slot, _front in answers] == [str(1 - int(home))] * 5, (home, answers)
        status, _headers, _body = blocker.read_response()
        assert status == 200
        assert ask(asker)[0] == home  # it answers again: home again
    finally:
        blocker.close()
        asker.close()
