"""Test app: WSGI requests that stay in the app until told to go, counting how many it runs at once."""

import json
import os
import threading
import time
from urllib.parse import parse_qs

# A request that is never released still ends, so a failing test cannot leave the worker stuck.
HOLD_LIMIT = 60.0

_lock = threading.Lock()
_in_flight = 0
_most = 0


def app(environ, start_response):
    """`?until=N`: stay until N requests have been in the app at once; `&flag=PATH`: or until PATH exists.
    Answers the most requests this worker has seen in its handlers at once."""
    global _in_flight, _most
    query = parse_qs(environ["QUERY_STRING"])
    until = int(query.get("until", ["0"])[0])
    flag = query.get("flag", [""])[0]
    with _lock:
        _in_flight += 1
        _most = max(_most, _in_flight)
    try:
        deadline = time.monotonic() + HOLD_LIMIT
        while not (until and _most >= until) and not (flag and os.path.exists(flag)) \
                and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        with _lock:
            _in_flight -= 1
    body = json.dumps({"most_at_once": _most}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
